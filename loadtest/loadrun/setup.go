package loadrun

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"livecommerce/loadtest/naiveorigin"
	"livecommerce/loadtest/scenario"
	"livecommerce/origin/adminapi"
)

// setUpSale creates the plan's lives and products through the admin API,
// as a merchant would before going live, in the API's own wire types.
func setUpSale(ctx context.Context, plan *scenario.Plan, adminURL, key string) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	put := func(path string, body any) error {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, adminURL+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("PUT %s: %w", path, err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("PUT %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
		}
		return nil
	}
	for l, live := range plan.Lives {
		body := adminapi.LiveBody{Title: "Load test " + plan.RunID + " live " + fmt.Sprint(l)}
		if err := put("/admin/v1/lives/"+live, body); err != nil {
			return fmt.Errorf("create live: %w", err)
		}
		var products []adminapi.ProductRow
		for _, s := range plan.SKUs {
			if s.Live == l {
				products = append(products, adminapi.ProductRow{
					SKU: new(s.ID), Name: new("Product " + s.ID), Price: new(int64(scenario.Price)), Currency: new(scenario.Currency),
					Stock: new(int64(s.Stock)), PerBuyerLimit: new(int64(s.Limit)), LowStockThreshold: new(int64(scenario.LowStock)),
				})
			}
		}
		if err := put("/admin/v1/lives/"+live+"/products", products); err != nil {
			return fmt.Errorf("put products: %w", err)
		}
	}
	return nil
}

// setUpNaive puts the same catalog into the naive baseline's tables.
func setUpNaive(ctx context.Context, db *sql.DB, plan *scenario.Plan) error {
	if err := naiveorigin.CreateSchema(ctx, db); err != nil {
		return fmt.Errorf("naive schema: %w", err)
	}
	products := make([]naiveorigin.Product, len(plan.SKUs))
	for i, s := range plan.SKUs {
		products[i] = naiveorigin.Product{SKU: s.ID, LiveID: plan.Lives[s.Live], Stock: s.Stock, PerBuyerLimit: s.Limit, Price: scenario.Price, Currency: scenario.Currency}
	}
	if err := naiveorigin.Seed(ctx, db, products); err != nil {
		return fmt.Errorf("naive seed: %w", err)
	}
	return nil
}
