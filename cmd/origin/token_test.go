package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livecommerce/internal/buyertoken"
)

const tokenTestSecret = "token-test-secret-0123456789abcdef"

// TestTokenCommand: `origin token` issues with the origins' settings (the
// configured iss and aud go into the token) and refuses a secret, issuer
// or lifetime the origins would not accept.
func TestTokenCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  string // empty: a token is printed
		wantIss  string
		wantAud  string
		wantLife time.Duration
	}{
		{name: "defaults", args: []string{"--buyer", "alice"}, wantLife: time.Hour},
		{name: "issuer and audience", args: []string{"--buyer", "alice"},
			env:     map[string]string{"BUYER_JWT_ISSUER": "https://shop.example", "BUYER_JWT_AUDIENCE": "origin"},
			wantIss: "https://shop.example", wantAud: "origin", wantLife: time.Hour},
		{name: "flags", args: []string{"--buyer", "alice", "--jwt-issuer", "iss-1", "--jwt-audience", "aud-1", "--ttl", "30m"},
			wantIss: "iss-1", wantAud: "aud-1", wantLife: 30 * time.Minute},
		{name: "ttl at the default maximum", args: []string{"--buyer", "alice", "--ttl", "24h"}, wantLife: 24 * time.Hour},
		{name: "ttl within a raised maximum", args: []string{"--buyer", "alice", "--ttl", "48h"},
			env: map[string]string{"BUYER_JWT_MAX_TTL": "72h"}, wantLife: 48 * time.Hour},
		{name: "ttl above the default maximum", args: []string{"--buyer", "alice", "--ttl", "25h"}, wantErr: "above BUYER_JWT_MAX_TTL"},
		{name: "ttl of a century", args: []string{"--buyer", "alice", "--ttl", "876000h"}, wantErr: "above BUYER_JWT_MAX_TTL"},
		{name: "ttl above a lowered maximum", args: []string{"--buyer", "alice", "--ttl", "2h"},
			env: map[string]string{"BUYER_JWT_MAX_TTL": "1h"}, wantErr: "above BUYER_JWT_MAX_TTL"},
		{name: "maximum out of bounds", args: []string{"--buyer", "alice"},
			env: map[string]string{"BUYER_JWT_MAX_TTL": "1000h"}, wantErr: "BUYER_JWT_MAX_TTL"},
		{name: "16-byte secret", args: []string{"--buyer", "alice"},
			env: map[string]string{"BUYER_JWT_SECRET": "0123456789abcdef"}, wantErr: "at least 32 bytes"},
		{name: "no secret", args: []string{"--buyer", "alice"},
			env: map[string]string{"BUYER_JWT_SECRET": ""}, wantErr: "BUYER_JWT_SECRET"},
		{name: "issuer with a newline", args: []string{"--buyer", "alice", "--jwt-issuer", "a\nb"}, wantErr: "BUYER_JWT_ISSUER"},
		{name: "hostile buyer", args: []string{"--buyer", "alice\nlevel=admin"}, wantErr: "invalid buyer id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"BUYER_JWT_SECRET": tokenTestSecret}
			for k, v := range tt.env {
				env[k] = v
			}
			var out bytes.Buffer
			before := time.Now().Truncate(time.Second)
			err := run(context.Background(), append([]string{"token"}, tt.args...), &out, func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("origin token: got (%q, %v), want an error containing %q", out.String(), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("origin token: %v", err)
			}
			tok := strings.TrimSpace(out.String())
			var c jwt.RegisteredClaims
			if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(tokenTestSecret), nil }); err != nil {
				t.Fatalf("parse the printed token: %v", err)
			}
			if c.Issuer != tt.wantIss {
				t.Errorf("iss: got %q, want %q", c.Issuer, tt.wantIss)
			}
			if got := strings.Join(c.Audience, ","); got != tt.wantAud {
				t.Errorf("aud: got %q, want %q", got, tt.wantAud)
			}
			if life := c.ExpiresAt.Sub(before); life < tt.wantLife || life > tt.wantLife+2*time.Second {
				t.Errorf("lifetime: got %s, want %s", life, tt.wantLife)
			}
			// The origins, configured alike, accept it.
			opts := []buyertoken.Option{buyertoken.WithIssuer(tt.wantIss), buyertoken.WithAudience(tt.wantAud)}
			if d, err := time.ParseDuration(env["BUYER_JWT_MAX_TTL"]); err == nil {
				opts = append(opts, buyertoken.WithMaxTTL(d))
			}
			v, err := buyertoken.NewVerifier([]byte(tokenTestSecret), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if id, err := v.Verify(tok); err != nil || id != "alice" {
				t.Errorf("Verify: got (%q, %v), want (alice, nil)", id, err)
			}
		})
	}
}
