package hotpath

import (
	"strconv"
	"testing"
)

func TestCacheGetPut(t *testing.T) {
	c := NewCache[int](64)
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache has a")
	}
	c.Put("a", 1)
	c.Put("ab", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v", v, ok)
	}
	if _, ok := c.Get("a "); ok {
		t.Fatal("a token is found by another string")
	}
	c.Delete("a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("deleted entry still there")
	}
	if v, _ := c.Get("ab"); v != 2 {
		t.Fatalf("Get(ab) = %d", v)
	}
}

func TestCacheBounded(t *testing.T) {
	const size = 64
	c := NewCache[int](size)
	for i := range 10 * size {
		c.Put(strconv.Itoa(i), i)
	}
	if n := c.Len(); n > size {
		t.Fatalf("cache of %d holds %d entries", size, n)
	}
	// The newest entry always stays.
	if v, ok := c.Get(strconv.Itoa(10*size - 1)); !ok || v != 10*size-1 {
		t.Fatalf("newest entry = %d, %v", v, ok)
	}
	// Replacing an entry of a full shard evicts nothing.
	n := c.Len()
	c.Put(strconv.Itoa(10*size-1), 0)
	if c.Len() != n {
		t.Fatalf("replacing an entry changed the size from %d to %d", n, c.Len())
	}
}
