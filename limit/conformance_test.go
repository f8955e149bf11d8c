package limit_test

import (
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/mcphub/apigateway/limit"
	"github.com/mcphub/apigateway/limit/limittest"
)

func TestMemoryStoreConformance(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.LimitStore {
		return limit.NewMemoryStore(limit.MemoryConfig{})
	})
}

func TestAdaptedULuleMemoryStoreConformance(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.LimitStore {
		return limit.Adapt(memory.NewStoreWithOptions(limiter.StoreOptions{
			Prefix: "test", CleanUpInterval: time.Minute}))
	})
}

func TestRedisStoreConformanceMiniredis(t *testing.T) {
	_, client := newMiniredis(t)
	store, err := limit.NewRedisStore(client, uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	limittest.Run(t, func(t *testing.T) limit.LimitStore { return store })
	limittest.RunBatch(t, func(t *testing.T) limit.BatchStore { return store })
}

func TestRedisStoreConformanceRealServer(t *testing.T) {
	client, prefix := realRedis(t)
	store, err := limit.NewRedisStore(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	limittest.Run(t, func(t *testing.T) limit.LimitStore { return store })
	limittest.RunBatch(t, func(t *testing.T) limit.BatchStore { return store })
}
