package stock

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EventSchema is the version of the Event wire format. Bump it on any change
// that an older consumer could misread.
const EventSchema = 1

// SubjectPrefix is the root of every stock-change subject on NATS.
const SubjectPrefix = "stock"

// StatusSubjectPrefix is the root of the status-change subjects: a copy of
// each event that may change its sku's status goes there too, so that a
// reader that only cares about statuses (the edge invalidator) is not sent
// every sale. It is a root of its own: under "stock." it would be read as a
// live named "status" by those who read every event of a live.
const StatusSubjectPrefix = "stockstatus"

// Event is a committed change of one sku's stock, published by the origin on
// Subject(live, sku) and consumed by the feed and the edge invalidator.
type Event struct {
	Schema int `json:"schema"`
	Level
}

// NewEvent wraps a level in the current schema.
func NewEvent(l Level) Event { return Event{Schema: EventSchema, Level: l} }

// Subject is the NATS subject for changes of one sku of one live.
func Subject(liveID, sku string) string {
	return SubjectPrefix + "." + liveID + "." + sku
}

// StatusSubject is the NATS subject for the events of one sku that may
// change its status.
func StatusSubject(liveID, sku string) string {
	return StatusSubjectPrefix + "." + liveID + "." + sku
}

// LiveSubject matches every sku of one live.
func LiveSubject(liveID string) string { return SubjectPrefix + "." + liveID + ".*" }

// DecodeEvent parses and validates a message body. Consumers must not trust
// the wire: a malformed or hostile event is rejected here, not downstream.
func DecodeEvent(data []byte) (Event, error) {
	if len(data) > 4096 {
		return Event{}, errors.New("stock event: too large")
	}
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("stock event: %w", err)
	}
	switch {
	case e.Schema != EventSchema:
		return Event{}, fmt.Errorf("stock event: unsupported schema %d", e.Schema)
	case !ValidID(e.LiveID):
		return Event{}, errors.New("stock event: invalid live_id")
	case !ValidID(e.SKU):
		return Event{}, errors.New("stock event: invalid sku")
	case e.Remaining < 0:
		return Event{}, errors.New("stock event: negative remaining")
	case e.Version <= 0:
		return Event{}, errors.New("stock event: version must be positive")
	case e.Status != InStock && e.Status != LowStock && e.Status != SoldOut:
		return Event{}, fmt.Errorf("stock event: unknown status %q", e.Status)
	case e.UpdatedAt.IsZero() || e.UpdatedAt.After(time.Now().Add(24*time.Hour)):
		return Event{}, errors.New("stock event: implausible updated_at")
	}
	return e, nil
}
