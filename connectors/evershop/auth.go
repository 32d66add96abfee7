package evershop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/pipeline"
)

// tokens is the admin session. A zero refreshExp means "unknown": the
// refresh is attempted and a refusal falls back to a login.
type tokens struct {
	access, refresh       string
	accessExp, refreshExp time.Time
}

// token returns an access token valid for at least Config.RefreshBefore.
// stale is the token a request was just refused with (401), or "": if the
// current token is still that one, it is renewed even if it looks valid;
// if another goroutine already renewed it, the new one is returned as is.
func (c *Client) token(ctx context.Context, stale string) (string, error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	now := c.now()
	t := c.tok
	if t.access != "" && t.access != stale && now.Before(t.accessExp.Add(-c.cfg.RefreshBefore)) {
		return t.access, nil
	}
	if t.refresh != "" && (t.refreshExp.IsZero() || now.Before(t.refreshExp)) {
		err := c.refreshToken(ctx)
		if err == nil {
			return c.tok.access, nil
		}
		if !hasStatus(err, http.StatusUnauthorized) && !hasStatus(err, http.StatusBadRequest) {
			return "", err
		}
		c.log.Info("evershop refresh token refused, logging in again", "error", err)
	}
	if err := c.login(ctx); err != nil {
		return "", err
	}
	return c.tok.access, nil
}

// login expects c.authMu held.
func (c *Client) login(ctx context.Context) error {
	raw, err := c.post(ctx, "evershop login", "/api/user/tokens", "",
		map[string]string{"email": c.cfg.Email, "password": c.cfg.Password})
	if err != nil {
		return err
	}
	var out struct {
		Data struct {
			AccessToken  string `json:"accessToken"`
			RefreshToken string `json:"refreshToken"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.AccessToken == "" {
		return pipeline.Permanentf("evershop login: no data.accessToken in %q (%v)", httpx.Snippet(raw), err)
	}
	now := c.now()
	c.tok = tokens{
		access:     out.Data.AccessToken,
		accessExp:  expiry(out.Data.AccessToken, now, c.cfg.TokenLifetime),
		refresh:    out.Data.RefreshToken,
		refreshExp: expiry(out.Data.RefreshToken, now, 0),
	}
	c.log.Info("evershop logged in", "access_expires", c.tok.accessExp)
	return nil
}

// refreshToken expects c.authMu held.
func (c *Client) refreshToken(ctx context.Context) error {
	raw, err := c.post(ctx, "evershop refresh token", "/api/user/token/refresh", "",
		map[string]string{"refreshToken": c.tok.refresh})
	if err != nil {
		return err
	}
	var out struct {
		Data struct {
			AccessToken string `json:"accessToken"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.AccessToken == "" {
		return pipeline.Permanentf("evershop refresh token: no data.accessToken in %q (%v)", httpx.Snippet(raw), err)
	}
	c.tok.access = out.Data.AccessToken
	c.tok.accessExp = expiry(out.Data.AccessToken, c.now(), c.cfg.TokenLifetime)
	c.log.Debug("evershop access token refreshed", "access_expires", c.tok.accessExp)
	return nil
}

// expiry reads the exp claim of a JWT without verifying it (we are the
// audience, not the issuer; the server verifies). Without one it assumes
// now+lifetime; a zero lifetime then means unknown (zero time).
func expiry(jwt string, now time.Time, lifetime time.Duration) time.Time {
	if parts := strings.Split(jwt, "."); len(parts) == 3 {
		payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
		var claims struct {
			Exp json.Number `json:"exp"`
		}
		if err == nil && json.Unmarshal(payload, &claims) == nil {
			if f, err := claims.Exp.Float64(); err == nil && f > 0 {
				return time.Unix(int64(f), 0)
			}
		}
	}
	if lifetime == 0 {
		return time.Time{}
	}
	return now.Add(lifetime)
}
