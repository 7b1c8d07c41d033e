/**
 * Tensor communication among the K workers of one training job, with no Spark dependency.
 *
 * <p>{@link dev.clipspark.training.collective.Collective} is the one interface; the backends are reached
 * through {@link dev.clipspark.training.collective.Collectives}: {@code local()} for a single worker,
 * {@code inProcess(k)} for K threads of one JVM (tests of sharded code), and {@code tcpRing(...)} for K
 * processes connected in a ring of TCP sockets; {@code simulatedPeers(...)} plays one rank against synthetic
 * peers and counts the bytes a ring would move (benchmarks). {@code CollectiveBenchmark} measures the TCP
 * ring on loopback. Every rank calls the same operations in the same order with
 * arrays of the same shape and data type; a rank that fails, closes or stops answering makes the others
 * throw a {@link dev.clipspark.training.collective.CollectiveException} within the configured timeout.
 */
package dev.clipspark.training.collective;
