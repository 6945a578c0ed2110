// Package cacherules keeps the Cloudflare Cache Rules of the stock endpoints
// as code: the rules this repository owns, the plan that turns a zone's
// current cache-settings ruleset into the desired one, and a client that
// reads and writes that ruleset through cloudflare-go.
//
// Cache Rules are the zone entrypoint ruleset of the phase
// http_request_cache_settings. The ruleset is shared with whoever else
// edits the zone, so only rules whose ref starts with RefPrefix belong to
// this package; every other rule is carried over untouched and in place.
package cacherules

import "encoding/json"

// Phase is the ruleset phase of Cloudflare Cache Rules.
const Phase = "http_request_cache_settings"

// RefPrefix marks the rules this package owns.
const RefPrefix = "lc-"

// Rule is one cache rule as the Rulesets API takes it. The types below spell
// the wire format out instead of reusing cloudflare-go's RulesetRule: that
// struct writes "exclude all query strings" in the legacy form "*" and reads
// the current form {"all":true} back as nothing, so a plan built on it would
// never settle.
type Rule struct {
	ID               string        `json:"id,omitempty"`
	Ref              string        `json:"ref"`
	Description      string        `json:"description"`
	Expression       string        `json:"expression"`
	Action           string        `json:"action"`
	ActionParameters CacheSettings `json:"action_parameters"`
	Enabled          bool          `json:"enabled"`
}

// CacheSettings are the action parameters of set_cache_settings that the
// rules use. Unset pointers leave Cloudflare's default in force.
type CacheSettings struct {
	Cache              bool        `json:"cache"`
	EdgeTTL            *TTL        `json:"edge_ttl,omitempty"`
	BrowserTTL         *TTL        `json:"browser_ttl,omitempty"`
	ServeStale         *ServeStale `json:"serve_stale,omitempty"`
	RespectStrongETags *bool       `json:"respect_strong_etags,omitempty"`
	CacheKey           *CacheKey   `json:"cache_key,omitempty"`
}

// TTL selects where a TTL comes from ("respect_origin" or an override).
type TTL struct {
	Mode string `json:"mode"`
}

// ServeStale controls stale-while-revalidate at the edge.
type ServeStale struct {
	DisableStaleWhileUpdating bool `json:"disable_stale_while_updating"`
}

// CacheKey customises the cache key.
type CacheKey struct {
	CustomKey CustomKey `json:"custom_key"`
}

// CustomKey lists the request parts added to or removed from the key.
// Cookies and headers are left out, so they are not part of the key.
type CustomKey struct {
	QueryString QueryString `json:"query_string"`
}

// QueryString says which query parameters are in the key.
type QueryString struct {
	Exclude QueryList `json:"exclude"`
}

// QueryList is "all parameters" or a list of names.
type QueryList struct {
	All  bool     `json:"all,omitempty"`
	List []string `json:"list,omitempty"`
}

const actionSetCacheSettings = "set_cache_settings"

// Path conditions, in Cloudflare's rules language. starts_with/ends_with
// work on every plan (the regex operator "matches" does not); a path with
// extra segments such as /v1/products/a/b/stock also matches, and the origin
// answers it 404, which is harmless to cache.
const (
	exprPurchases = `(http.request.uri.path eq "/v1/purchases" or starts_with(http.request.uri.path, "/v1/purchases/"))`
	exprOrders    = `(http.request.uri.path eq "/v1/orders" or starts_with(http.request.uri.path, "/v1/orders/"))`
	exprAdmin     = `(http.request.uri.path eq "/admin" or starts_with(http.request.uri.path, "/admin/"))`
	exprEvents    = `(starts_with(http.request.uri.path, "/v1/lives/") and ends_with(http.request.uri.path, "/events"))`
	exprStock     = `(http.request.method eq "GET" and ((starts_with(http.request.uri.path, "/v1/products/") and ends_with(http.request.uri.path, "/stock")) or (starts_with(http.request.uri.path, "/v1/lives/") and ends_with(http.request.uri.path, "/stock"))))`
)

func bypass(ref, description, expr string) Rule {
	return Rule{
		Ref:              ref,
		Description:      description,
		Expression:       expr,
		Action:           actionSetCacheSettings,
		ActionParameters: CacheSettings{Cache: false},
		Enabled:          true,
	}
}

// Desired returns the rules this package owns, in the order they must run:
// the bypasses first, then the stock reads. Their paths do not overlap, so
// the order only keeps the list readable; the block as a whole comes after
// any rule of others when first added, since a later cache rule overrides
// an earlier one that matches the same request.
//
// The bypasses match every method, not only the one each endpoint serves
// today: a bypass that is too wide costs nothing, a cached order or admin
// page leaks data.
func Desired() []Rule {
	yes := true
	return []Rule{
		bypass("lc-bypass-purchases", "lc: never cache purchases", exprPurchases),
		bypass("lc-bypass-orders", "lc: never cache orders (per buyer)", exprOrders),
		bypass("lc-bypass-admin", "lc: never cache the merchant admin API", exprAdmin),
		// Server-sent events must be neither cached nor buffered; with
		// cache off Cloudflare streams the response as the origin writes it.
		bypass("lc-bypass-events", "lc: never cache the live stock event stream (SSE)", exprEvents),
		{
			Ref:         "lc-stock-reads",
			Description: "lc: stock reads, TTLs from the origin's CDN-Cache-Control",
			Expression:  exprStock,
			Action:      actionSetCacheSettings,
			ActionParameters: CacheSettings{
				Cache: true,
				// The origin sends CDN-Cache-Control: public, max-age=1,
				// stale-while-revalidate=5, stale-if-error=60, so the TTLs
				// live in one place: the origin.
				EdgeTTL:    &TTL{Mode: "respect_origin"},
				BrowserTTL: &TTL{Mode: "respect_origin"},
				// Stale-while-revalidate stays on: one request refreshes
				// an entry while the herd is answered from the edge.
				ServeStale: &ServeStale{DisableStaleWhileUpdating: false},
				// Keeps the origin's strong ETag so If-None-Match gets 304.
				RespectStrongETags: &yes,
				// These endpoints take no query parameters. Excluding all
				// of them, not only utm_*/fbclid/gclid, means a random
				// "?x=123" cannot split the cache or walk past it to the
				// origin during a sale.
				CacheKey: &CacheKey{CustomKey: CustomKey{
					QueryString: QueryString{Exclude: QueryList{All: true}},
				}},
			},
			Enabled: true,
		},
	}
}

// DesiredJSON returns Desired as the JSON array sent to Cloudflare (without
// rule ids), for documentation and review.
func DesiredJSON() ([]byte, error) {
	return json.MarshalIndent(Desired(), "", "  ")
}
