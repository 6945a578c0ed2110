-- Identifiers are ASCII with binary collation: sku "a1" and "A1" are two
-- products, and an idempotency key is compared byte for byte.

CREATE TABLE IF NOT EXISTS merchants (
  id          VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name        VARCHAR(200) NOT NULL,
  created_at  DATETIME(6)  NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- split
-- Only a SHA-256 of the secret part is stored; the key is shown once.
CREATE TABLE IF NOT EXISTS merchant_api_keys (
  id           VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id  VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  secret_hash  BINARY(32)  NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  revoked_at   DATETIME(6) NULL,
  PRIMARY KEY (id),
  KEY merchant_api_keys_merchant (merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- split
CREATE TABLE IF NOT EXISTS lives (
  id              VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id     VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  title           VARCHAR(200) NOT NULL,
  sale_starts_at  DATETIME(6)  NULL,
  sale_ends_at    DATETIME(6)  NULL,
  created_at      DATETIME(6)  NOT NULL,
  updated_at      DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY lives_merchant (merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- split
-- sold is the per-sku counter the purchase transaction raises with a
-- conditional update; the CHECK is the last line of defence against oversell.
-- version is a floor for the stock version kept in Redis, so a rebuilt Redis
-- never hands out a version lower than one already committed.
CREATE TABLE IF NOT EXISTS products (
  sku                  VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  live_id              VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id          VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name                 VARCHAR(200) NOT NULL,
  price                BIGINT       NOT NULL,
  currency             CHAR(3)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  stock                INT          NOT NULL,
  sold                 INT          NOT NULL DEFAULT 0,
  per_buyer_limit      INT          NOT NULL,
  low_stock_threshold  INT          NOT NULL,
  version              BIGINT       NOT NULL DEFAULT 0,
  created_at           DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  PRIMARY KEY (sku),
  KEY products_live (live_id),
  CONSTRAINT products_sold_within_stock CHECK (sold >= 0 AND sold <= stock),
  CONSTRAINT products_price_positive CHECK (price >= 0),
  CONSTRAINT products_limit_positive CHECK (per_buyer_limit >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- split
-- Append-only: a row is written once, in the transaction that raised
-- products.sold, and never updated or deleted.
CREATE TABLE IF NOT EXISTS orders (
  id               CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  buyer_id         VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idempotency_key  VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  sku              VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  live_id          VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  quantity         INT          NOT NULL,
  unit_price       BIGINT       NOT NULL,
  currency         CHAR(3)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status           VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at       DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY orders_buyer_idempotency (buyer_id, idempotency_key),
  KEY orders_sku_buyer (sku, buyer_id),
  CONSTRAINT orders_quantity_positive CHECK (quantity >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- split
CREATE TABLE IF NOT EXISTS stock_adjustments (
  id           CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  sku          VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id  VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  delta        INT          NOT NULL,
  stock_after  INT          NOT NULL,
  reason       VARCHAR(200) NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY stock_adjustments_sku (sku, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
