package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"livecommerce/internal/stock"
	"livecommerce/merchantctl/adminclient"
	"livecommerce/origin/shop"
)

const restockHelp = `Usage: merchantctl restock --sku SKU (--add N | --remove N) [--reason TEXT]

Changes the units on sale of one sku by N and prints its new stock. Stock
is the total put on sale, so it can never go below the units already sold;
the origin refuses such a change and nothing is changed.

Flags:
  --sku SKU        the product (required)
  --add N          units to add, 1 to 100000000
  --remove N       units to take off sale, 1 to 100000000
  --reason TEXT    why, kept with the change (default "restock" or "correction")

Examples:
  merchantctl restock --sku A1 --add 50
  merchantctl restock --sku A1 --remove 5 --reason "damaged in storage"
`

func runRestock(ctx context.Context, e Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("restock", flag.ContinueOnError)
	c.register(fs)
	sku := fs.String("sku", "", "")
	add := fs.String("add", "", "")
	remove := fs.String("remove", "", "")
	reason := fs.String("reason", "", "")
	pos, err := parse(e, fs, restockHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %s", shown(pos[0]))
	case *sku == "":
		return usagef("--sku is required")
	case !stock.ValidID(*sku):
		return usagef("--sku must be 1 to 64 of A-Z a-z 0-9 _ -")
	case (*add == "") == (*remove == ""):
		return usagef("give exactly one of --add N or --remove N")
	}
	flagName, v, sign, defReason := "--add", *add, int64(1), "restock"
	if *remove != "" {
		flagName, v, sign, defReason = "--remove", *remove, -1, "correction"
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > shop.MaxStock {
		return usagef("%s must be a whole number from 1 to %d", flagName, shop.MaxStock)
	}
	if *reason == "" {
		*reason = defReason
	}
	if strings.TrimSpace(*reason) != *reason || utf8.RuneCountInString(*reason) > shop.MaxName ||
		strings.ContainsFunc(*reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return usagef("--reason must be 1 to %d printable characters without surrounding spaces", shop.MaxName)
	}
	s, err := c.load(e.Getenv, true)
	if err != nil {
		return err
	}
	client := adminclient.New(s.Origin, s.Key, s.Timeout)
	a, err := client.AdjustStock(ctx, *sku, sign*n, *reason)
	var apiErr *adminclient.Error
	if err != nil && (!errors.As(err, &apiErr) || apiErr.Status >= 500) {
		// No answer, or the edge's 503: the change may have been made.
		return fmt.Errorf("%w\nthe adjustment may or may not have been applied: check `merchantctl report` before running it again", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s (live %s): stock is now %d (version %d)\n", a.SKU, a.LiveID, a.Stock, a.Version)
	return nil
}
