DROP TABLE digest_key_chain;
DROP TABLE rate_limit_buckets;
