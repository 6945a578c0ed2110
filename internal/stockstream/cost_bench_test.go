package stockstream_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/loadtest/procstat"
)

// BenchmarkStreamPublish measures what one stock event costs NATS and its
// publisher with the STOCK stream's settings, file storage against memory
// storage, with no consumer on the event's subject and with one that acks
// every event (as the edge invalidator did when it read every sale). The
// server runs in the benchmark's process, so "cpu-µs/event" is both sides
// of the exchange: the publish, its stored copy, its acknowledgement and
// the consumer's delivery and ack. Compare the variants with each other,
// not with a server in a process of its own.
//
//	go test -run '^$' -bench StreamPublish -benchtime 20000x ./internal/stockstream
func BenchmarkStreamPublish(b *testing.B) {
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		for _, consumed := range []bool{false, true} {
			name := fmt.Sprintf("storage=%s/acking-consumer=%v", storage, consumed)
			b.Run(name, func(b *testing.B) { benchPublish(b, storage, consumed) })
		}
	}
}

func benchPublish(b *testing.B, storage jetstream.StorageType, consumed bool) {
	n := natstest.Start(b)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := stockstream.Config(1)
	cfg.Storage = storage
	stream, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	var cons jetstream.Consumer
	if consumed {
		cons, err = stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: "bench", FilterSubject: stock.SubjectPrefix + ".>", AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverNewPolicy, MaxAckPending: 4096,
		})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { _ = m.Ack() }, jetstream.PullMaxMessages(256))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
	}
	body := []byte(`{"schema":1,"sku":"S00042","live_id":"L007","remaining":123,"status":"in_stock","version":4567,"updated_at":"2026-12-07T22:00:00.123Z"}`)
	cpu0 := procstat.SelfCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// 200 skus, as the load test's 50 lives of 4 products.
		m := nats.NewMsg(stock.Subject("L"+strconv.Itoa(i%50), "S"+strconv.Itoa(i%200)))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, strconv.Itoa(i))
		m.Header.Set("Lc-Version", strconv.Itoa(i))
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("acknowledgements did not all arrive")
	}
	// The consumer is done when nothing is left for it: the stream keeps
	// the last 8 events of a subject, so some it never reads are gone.
	for consumed {
		info, err := cons.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64((procstat.SelfCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}
