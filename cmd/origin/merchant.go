package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"livecommerce/internal/program"
	"livecommerce/origin/apikey"
	"livecommerce/origin/app"
	"livecommerce/origin/mysqlstore"
)

const merchantUsage = "usage: origin merchant create --name NAME | list [--merchant ID] | rotate --merchant ID [--revoke-old] | revoke --key KEYID | revoke --merchant ID"

// runMerchant dispatches the merchant subcommands. Every flag is checked
// before the database is opened, so bad input changes nothing.
func runMerchant(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return program.Usage(errors.New(merchantUsage))
	}
	switch args[0] {
	case "create":
		return merchantCreate(ctx, args[1:], out, getenv)
	case "list":
		return merchantList(ctx, args[1:], out, getenv)
	case "rotate":
		return merchantRotate(ctx, args[1:], out, getenv)
	case "revoke":
		return merchantRevoke(ctx, args[1:], out, getenv)
	}
	return program.Usage(fmt.Errorf("unknown merchant command %.20q; %s", args[0], merchantUsage))
}

func merchantCreate(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var name string
	cfg, err := app.LoadCommand("origin merchant create", args, getenv, func(fs *flag.FlagSet) {
		// A name chooses nothing that exists, so it may still come from
		// the environment, as before.
		fs.StringVar(&name, "name", getenv("MERCHANT_NAME"), "the merchant's display name, one line of at most 200 characters (required) (env MERCHANT_NAME)")
	})
	if err != nil {
		return program.Usage(err)
	}
	if err := checkName(name); err != nil {
		return program.Usage(err)
	}
	return withStore(ctx, cfg, func(db *mysqlstore.Store) error {
		id, key, err := db.CreateMerchant(ctx, name, time.Now().UTC())
		if err != nil {
			return err
		}
		keyID, _, _ := apikey.Parse(key)
		fmt.Fprintf(out, "merchant_id: %s\nkey_id: %s\napi_key: %s\n(the key is shown only this once)\n", id, apikey.Name(keyID), key)
		return nil
	})
}

func merchantList(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var merchant string
	cfg, err := app.LoadCommand("origin merchant list", args, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&merchant, "merchant", "", "list only this merchant's keys (default: every merchant)")
	})
	if err != nil {
		return program.Usage(err)
	}
	if merchant != "" {
		if err := checkMerchantID(merchant); err != nil {
			return program.Usage(err)
		}
	}
	return withStore(ctx, cfg, func(db *mysqlstore.Store) error {
		keys, err := db.APIKeys(ctx, merchant)
		if err != nil {
			return merchantError(err, merchant, "")
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MERCHANT\tNAME\tKEY\tCREATED\tSTATUS")
		for _, k := range keys {
			// The name is quoted: whatever it holds, one key stays one line.
			if k.ID == "" {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\tno key\n", k.MerchantID, strconv.Quote(k.MerchantName))
				continue
			}
			status := "active"
			if !k.Active() {
				status = "revoked " + rfc3339(k.RevokedAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.MerchantID, strconv.Quote(k.MerchantName), apikey.Name(k.ID), rfc3339(k.CreatedAt), status)
		}
		return tw.Flush()
	})
}

func merchantRotate(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var merchant string
	var revokeOld bool
	cfg, err := app.LoadCommand("origin merchant rotate", args, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&merchant, "merchant", "", "the merchant to issue a new key to (required)")
		fs.BoolVar(&revokeOld, "revoke-old", false, "revoke the merchant's other keys in the same step (a leaked key)")
	})
	if err != nil {
		return program.Usage(err)
	}
	if err := checkMerchantID(merchant); err != nil {
		return program.Usage(err)
	}
	return withStore(ctx, cfg, func(db *mysqlstore.Store) error {
		r, err := db.RotateAPIKey(ctx, merchant, revokeOld, time.Now().UTC())
		if err != nil {
			return merchantError(err, merchant, "")
		}
		fmt.Fprintf(out, "merchant_id: %s\nkey_id: %s\napi_key: %s\n(the key is shown only this once)\n", merchant, apikey.Name(r.KeyID), r.Key)
		if len(r.Revoked) > 0 {
			fmt.Fprintf(out, "revoked: %s\n", keyNames(r.Revoked))
		}
		if len(r.Active) > 0 {
			fmt.Fprintf(out, "still_active: %s\n(they keep working until: origin merchant revoke --key KEYID)\n", keyNames(r.Active))
		}
		return nil
	})
}

func merchantRevoke(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var key, merchant string
	cfg, err := app.LoadCommand("origin merchant revoke", args, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&key, "key", "", "the key to revoke: lck_ and its 24 hex digits, as listed (not the whole key)")
		fs.StringVar(&merchant, "merchant", "", "revoke every key of this merchant instead")
	})
	if err != nil {
		return program.Usage(err)
	}
	var keyID string
	switch {
	case key != "" && merchant != "":
		return program.Usage(errors.New("--key, --merchant: give one of them, not both"))
	case key == "" && merchant == "":
		return program.Usage(errors.New("--key or --merchant: one of them is required"))
	case key != "":
		// The value is not echoed: it may be a whole key, secret included.
		if keyID, err = apikey.ParseID(key); err != nil {
			return program.Usage(errors.New("--key: not a key id; want lck_ and 24 lowercase hex digits, as `origin merchant list` shows (not the whole key)"))
		}
	default:
		if err := checkMerchantID(merchant); err != nil {
			return program.Usage(err)
		}
	}
	return withStore(ctx, cfg, func(db *mysqlstore.Store) error {
		now := time.Now().UTC()
		var r mysqlstore.Revocation
		var err error
		if keyID != "" {
			r, err = db.RevokeAPIKey(ctx, keyID, now)
		} else {
			r, err = db.RevokeMerchantKeys(ctx, merchant, now)
		}
		if err != nil {
			return merchantError(err, merchant, keyID)
		}
		switch {
		case len(r.Revoked) > 0:
			fmt.Fprintf(out, "revoked: %s\n", keyNames(r.Revoked))
		case keyID != "":
			fmt.Fprintf(out, "already revoked: %s at %s (nothing changed)\n", apikey.Name(keyID), rfc3339(r.RevokedAt))
		default:
			fmt.Fprintln(out, "no active key to revoke (nothing changed)")
		}
		fmt.Fprintf(out, "merchant_id: %s\nactive_keys_left: %d\n", r.MerchantID, r.ActiveLeft)
		return nil
	})
}

// merchantError names the flag whose value the database did not know.
func merchantError(err error, merchant, keyID string) error {
	switch {
	case errors.Is(err, mysqlstore.ErrUnknownMerchant):
		return fmt.Errorf("--merchant: no merchant %s", merchant)
	case errors.Is(err, mysqlstore.ErrUnknownAPIKey):
		return fmt.Errorf("--key: no key %s", apikey.Name(keyID))
	case errors.Is(err, mysqlstore.ErrTooManyKeys):
		return fmt.Errorf("--merchant: %s already has %d active keys; revoke one first (origin merchant revoke --key KEYID) or rotate with --revoke-old",
			merchant, mysqlstore.MaxActiveKeys)
	}
	return err
}

func checkMerchantID(id string) error {
	if id == "" {
		return errors.New("--merchant: required")
	}
	if !mysqlstore.ValidMerchantID(id) {
		// At most 24 characters of the value are echoed: never the secret
		// of an API key pasted here by mistake.
		return fmt.Errorf("--merchant: %.24q is not a merchant id (m_ and 16 lowercase hex digits)", id)
	}
	return nil
}

// checkName keeps display names to one line of text: they are shown in
// listings and reports, where a newline or escape code could forge a line.
func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("--name: required")
	case !utf8.ValidString(name):
		return errors.New("--name: must be UTF-8 text")
	case utf8.RuneCountInString(name) > 200:
		return errors.New("--name: at most 200 characters")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("--name: must not hold control characters (newline, tab, escape...)")
	}
	return nil
}

func keyNames(ids []string) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = apikey.Name(id)
	}
	return strings.Join(names, " ")
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
