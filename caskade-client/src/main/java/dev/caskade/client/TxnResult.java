package dev.caskade.client;

/**
 * The outcome of a {@link Txn}.
 *
 * @param succeeded whether every compare held, so the success branch ran (else the failure branch)
 * @param revision the revision of the commit (the current revision when the branch wrote nothing)
 */
public record TxnResult(boolean succeeded, long revision) {}
