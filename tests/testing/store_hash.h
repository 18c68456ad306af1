// File: tests/testing/store_hash.h
// Test helpers over a data directory: a digest of the whole keyspace of a
// partition store (every column family, key and value).
#ifndef LOYALTY_TESTS_TESTING_STORE_HASH_H_
#define LOYALTY_TESTS_TESTING_STORE_HASH_H_

#include <string>

namespace loyalty::testing {

// Hex SHA-256 over (column family, key, value) of every record, in order;
// the journal by its records (seq, kind, key, value), whatever batches
// hold them. Provenance (where the input came from and the program
// versions applied: IsProvenanceKey in engine/store/store.h) is left out. Aborts if the store
// cannot be opened.
// With `state_only`, the partition metadata (offsets) and the journal are
// left out: what remains is the members, orders, dedupe digests, counters
// and due index.
std::string HashPartitionStore(const std::string& partition_dir, bool state_only = false);

// Hex SHA-256 of the partition's output records alone (the journal: seq,
// kind, key, value of each, in order): the bytes that are published.
std::string HashJournal(const std::string& partition_dir);

// A fresh empty directory under the test temp dir (TEST_TMPDIR or /tmp).
std::string MakeTempDir(const std::string& name);

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_STORE_HASH_H_
