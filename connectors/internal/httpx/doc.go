// Package httpx holds what the HTTP connectors (coze, inbox, evershop)
// share: PostJSON sends one JSON POST with a bounded answer and classifies
// a non-2xx answer into pipeline.Retryable (408, 429, 5xx, honouring
// Retry-After) or pipeline.Permanent; Snippet and StatusMessage shape error
// text; FlexID, FlexInt and IDText read ids sent as JSON strings or
// numbers; Sleep waits on a context; Defaults, SetDefault and CheckBaseURL
// serve the connectors' constructors and Configs.
//
// Each connector keeps its own exported error types (their fields differ)
// and hands PostJSON a constructor for them. Like the connectors, httpx
// imports the standard library and pipeline's error classification, nothing
// else. Package fakehttp is the same for the connectors' fake servers.
package httpx
