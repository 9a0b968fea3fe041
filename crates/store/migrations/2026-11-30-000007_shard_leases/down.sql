DROP TABLE shard_members;
DROP TABLE shard_leases;
