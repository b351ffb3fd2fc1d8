package raft

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// checkStore reads every page of the log store before Raft opens it. bbolt
// trusts its pages and panics on a damaged one, deep in a later write, in
// whichever goroutine meets it; a disk that filled up or lost power
// mid-write must instead stop the agent at once with an error that names
// the file and what to do. A store that does not exist yet is fine.
func checkStore(path string) (err error) {
	if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
		return nil
	}
	// A page that points past the file makes bbolt read outside its
	// memory map; the fault becomes a panic recovered below instead of a
	// crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	defer func() {
		if p := recover(); p != nil {
			err = damaged(path, fmt.Errorf("%v", p))
			if db != nil {
				closeAfterPanic(db)
			}
		}
	}()
	// Opened for writing, bbolt also reads its free list, which a damaged
	// file may have wrong; the walk below writes nothing.
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("raft: %s is in use by another process (is another agent running on this data dir?)", path)
		}
		return damaged(path, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	}); err != nil {
		db.Close()
		return damaged(path, err)
	}
	return db.Close()
}

// walk reads every key and value of a bucket and of the buckets in it.
func walk(b *bolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				if err := walk(nested); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// closeAfterPanic releases the file of a store whose check panicked, so
// that the process may open it again; a second panic is of no interest.
func closeAfterPanic(db *bolt.DB) {
	defer func() { _ = recover() }()
	db.Close()
}

// damaged explains a damaged log store and what to do about it.
func damaged(path string, cause error) error {
	return fmt.Errorf("raft: the log store %s is damaged (%v). This agent cannot start on it. "+
		"If the cluster has other members, move the data dir aside and start the agent on an empty one with the cluster's --token: "+
		"it joins as a new node and gets the state from the others. If this was the only member, restore the data dir from a backup", path, cause)
}
