package main

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
)

// setUpSale creates the plan's lives and products through the admin API,
// as a merchant would before going live.
func setUpSale(ctx context.Context, plan *Plan, adminURL, key string) error {
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
	type product struct {
		SKU           string `json:"sku"`
		Name          string `json:"name"`
		Price         int64  `json:"price"`
		Currency      string `json:"currency"`
		Stock         int    `json:"stock"`
		PerBuyerLimit int    `json:"per_buyer_limit"`
		LowStock      int    `json:"low_stock_threshold"`
	}
	for l, live := range plan.Lives {
		if err := put("/admin/v1/lives/"+live, map[string]string{"title": "Load test " + plan.RunID + " live " + fmt.Sprint(l)}); err != nil {
			return fmt.Errorf("create live: %w", err)
		}
		var products []product
		for _, s := range plan.SKUs {
			if s.Live == l {
				products = append(products, product{SKU: s.ID, Name: "Product " + s.ID, Price: price, Currency: "JPY", Stock: s.Stock, PerBuyerLimit: s.Limit, LowStock: lowStock})
			}
		}
		if err := put("/admin/v1/lives/"+live+"/products", products); err != nil {
			return fmt.Errorf("put products: %w", err)
		}
	}
	return nil
}

// setUpNaive puts the same catalog into the naive baseline's tables.
func setUpNaive(ctx context.Context, db *sql.DB, plan *Plan) error {
	if err := naiveorigin.CreateSchema(ctx, db); err != nil {
		return fmt.Errorf("naive schema: %w", err)
	}
	products := make([]naiveorigin.Product, len(plan.SKUs))
	for i, s := range plan.SKUs {
		products[i] = naiveorigin.Product{SKU: s.ID, LiveID: plan.Lives[s.Live], Stock: s.Stock, PerBuyerLimit: s.Limit, Price: price, Currency: "JPY"}
	}
	if err := naiveorigin.Seed(ctx, db, products); err != nil {
		return fmt.Errorf("naive seed: %w", err)
	}
	return nil
}
