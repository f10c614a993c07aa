/**
 * Continuous streaming of a store's log to S3 or a directory (snapshots plus runs of log entries, in
 * generations), point-in-time restore, and the circuit breakers around every call to a destination.
 */
package dev.caskade.s3;
