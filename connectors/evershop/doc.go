// Package evershop reads the whole catalog from an EverShop store through
// its admin GraphQL API. EverShop has no REST endpoint that lists products,
// and its own events carry no names or prices, so a full listing is the
// source of truth for the knowledge base.
//
// It owns login and token refresh (POST /api/user/tokens,
// /api/user/token/refresh), paging (filters page/limit, sorted product_id
// DESC) and EverShop's limit of 120 requests a minute: a client-side token
// bucket keeps under it and a 429 is waited out per Retry-After rather than
// hammered. Products are handed on as raw JSON; parsing them is pipeline's
// job. It imports the standard library, pipeline's error classification and
// the connectors' shared HTTP helpers (connectors/internal/httpx), nothing
// else.
package evershop
