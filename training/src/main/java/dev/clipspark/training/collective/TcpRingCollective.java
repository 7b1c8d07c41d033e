package dev.clipspark.training.collective;

import dev.clipspark.training.device.HostMemory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One rank of K processes (or threads) connected in a ring of TCP sockets: it sends to its right
 * neighbour {@code (rank + 1) % K} and receives from its left {@code (rank - 1 + K) % K}. All-gather
 * passes chunks K-1 times around the ring; all-reduce is a reduce-scatter followed by an all-gather over K
 * chunks, so each rank sends and receives about {@code 2 (K-1)/K} times the array's bytes whatever K is;
 * reduce-scatter is the first half of that, {@code (K-1)/K} of the bytes, summing into two chunk-sized
 * buffers so that the caller's array is left unchanged.
 * Each operation starts with a small header (operation, data type, shape, root) checked against the left
 * neighbour's. Payloads are the arrays' raw little-endian elements, moved between the arrays' native
 * memory and the sockets through direct buffers; one selector drives the send and the receive of each step
 * together, so large chunks cannot deadlock on full socket buffers. A wait with no progress for the
 * timeout, a closed connection or a mismatched header fails the operation, closes this rank's sockets
 * (so its neighbours fail at once instead of waiting out their timeouts) and fails every later operation.
 */
final class TcpRingCollective implements Collective {

  private static final int HEADER_BYTES = 24;
  private static final int OP_ALL_GATHER = 1;
  private static final int OP_ALL_REDUCE = 2;
  private static final int OP_BROADCAST = 3;
  private static final int OP_BARRIER = 4;
  private static final int OP_REDUCE_SCATTER = 5;
  private static final long CONNECT_RETRY_MILLIS = 20;

  private final int rank;
  private final int size;
  private final int left;
  private final int right;
  private final Duration timeout;
  private final SocketChannel toRight;
  private final SocketChannel fromLeft;
  private final Selector selector;
  private final SelectionKey rightKey;
  private final SelectionKey leftKey;
  private final ByteBuffer sendHeader = ByteBuffer.allocateDirect(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
  private final ByteBuffer recvHeader = ByteBuffer.allocateDirect(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
  private ByteBuffer scratch = ByteBuffer.allocateDirect(0);
  private ByteBuffer scratch2 = ByteBuffer.allocateDirect(0);
  private String failure;
  private boolean closed;

  /** Listens on {@code peers.get(rank)}, connects to the right neighbour and accepts the left one. */
  TcpRingCollective(int rank, int size, List<InetSocketAddress> peers, Duration timeout) {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new IllegalStateException("Cannot create a TCP ring on rank " + rank + " of " + size
          + ": the platform is big-endian and the wire format is the arrays' raw little-endian elements");
    }
    this.rank = rank;
    this.size = size;
    this.left = (rank - 1 + size) % size;
    this.right = (rank + 1) % size;
    this.timeout = timeout;
    long deadline = System.nanoTime() + timeout.toNanos();
    SocketChannel out = null;
    SocketChannel in = null;
    Selector sel = null;
    try (ServerSocketChannel server = listen(peers.get(rank))) {
      out = connect(peers.get(right), deadline);
      in = accept(server, deadline);
      out.setOption(StandardSocketOptions.TCP_NODELAY, true);
      in.setOption(StandardSocketOptions.TCP_NODELAY, true);
      out.configureBlocking(false);
      in.configureBlocking(false);
      sel = Selector.open();
      this.toRight = out;
      this.fromLeft = in;
      this.selector = sel;
      this.rightKey = out.register(sel, 0);
      this.leftKey = in.register(sel, 0);
    } catch (IOException | RuntimeException e) {
      closeQuietly(out);
      closeQuietly(in);
      closeQuietly(sel);
      if (e instanceof CollectiveException ce) {
        throw ce;
      }
      throw new CollectiveException(
          "Cannot connect rank " + rank + " of " + size + " to its ring neighbours: " + e.getMessage(), e);
    }
    // The first exchange proves the left neighbour is who it should be.
    sendHeader.clear().putInt(rank).putInt(0).putLong(0).putLong(0).flip();
    recvHeader.clear();
    pump("connect", sendHeader, recvHeader, null);
    int leftRank = recvHeader.getInt(0);
    if (leftRank != left) {
      fail("connect", "the connection from the left came from rank " + leftRank + ", not " + left);
    }
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public INDArray allGather(INDArray local) {
    String op = "allGather";
    Collectives.requireGatherable(local, rank, size);
    exchangeHeader(op, OP_ALL_GATHER, local, 0);
    long[] shape = local.shape().clone();
    shape[0] *= size;
    INDArray result = Nd4j.createUninitialized(local.dataType(), shape, 'c'); // every byte is written below
    try (var resultView = HostMemory.readWrite(result);
        var localView = HostMemory.read(isPlain(local) ? local : local.dup('c'))) {
      ByteBuffer all = bytes(resultView);
      long chunk = local.length() * local.dataType().width();
      slice(all, rank * chunk, chunk).put(bytes(localView));
      for (int s = 0; s < size - 1; s++) {
        int send = Math.floorMod(rank - s, size);
        int recv = Math.floorMod(rank - s - 1, size);
        pump(op, slice(all, send * chunk, chunk), slice(all, recv * chunk, chunk), null);
      }
    }
    return result;
  }

  @Override
  public INDArray allReduceSum(INDArray data) {
    String op = "allReduceSum";
    DataType type = data.dataType();
    if (type != DataType.FLOAT && type != DataType.DOUBLE) {
      throw new IllegalArgumentException(String.format(
          "Cannot allReduceSum on rank %d of %d: data type %s is not supported; must be FLOAT or DOUBLE",
          rank, size, type));
    }
    exchangeHeader(op, OP_ALL_REDUCE, data, 0);
    INDArray work = isPlain(data) ? data : data.dup('c');
    try (var view = HostMemory.readWrite(work)) {
      ringAllReduce(op, bytes(view), type, work.length());
    }
    return work == data ? data : data.assign(work);
  }

  @Override
  public INDArray reduceScatterSum(INDArray data) {
    String op = "reduceScatterSum";
    DataType type = data.dataType();
    if (type != DataType.FLOAT && type != DataType.DOUBLE) {
      throw new IllegalArgumentException(String.format(
          "Cannot reduceScatterSum on rank %d of %d: data type %s is not supported; must be FLOAT or DOUBLE",
          rank, size, type));
    }
    Collectives.requireScatterable(data, rank, size);
    exchangeHeader(op, OP_REDUCE_SCATTER, data, 0);
    long[] shape = data.shape().clone();
    shape[0] /= size;
    INDArray share = Nd4j.createUninitialized(type, shape, 'c'); // the last step writes every byte
    INDArray source = isPlain(data) ? data : data.dup('c');
    try (var sourceView = HostMemory.read(source); var shareView = HostMemory.readWrite(share)) {
      reduceScatter(op, bytes(sourceView), bytes(shareView), share.length() * type.width(), type);
    }
    return share;
  }

  /** The ring reduce-scatter of {@code all} into {@code result} ({@code chunk} bytes). */
  private void reduceScatter(String op, ByteBuffer all, ByteBuffer result, long chunk, DataType type) {
    if (scratch.capacity() < chunk || scratch2.capacity() < chunk) {
      scratch = ByteBuffer.allocateDirect(Math.toIntExact(chunk)).order(ByteOrder.LITTLE_ENDIAN);
      scratch2 = ByteBuffer.allocateDirect(Math.toIntExact(chunk)).order(ByteOrder.LITTLE_ENDIAN);
    }
    // Chunk c starts at rank c + 1 and gathers one rank's addend per hop, arriving complete at rank c after
    // K - 1 hops. Partial sums live in two alternating scratch buffers (one is sent while the other fills),
    // the last one in the result, so the input is only read.
    ByteBuffer outgoing = slice(all, Math.floorMod(rank - 1, size) * chunk, chunk);
    for (int s = 0; s < size - 1; s++) {
      int recv = Math.floorMod(rank - s - 2, size);
      ByteBuffer into = s == size - 2 ? result : slice(s % 2 == 0 ? scratch : scratch2, 0, chunk);
      pump(op, outgoing, slice(into, 0, chunk), null);
      add(slice(into, 0, chunk), slice(all, recv * chunk, chunk), type);
      outgoing = slice(into, 0, chunk);
    }
  }

  @Override
  public INDArray broadcast(INDArray data, int root) {
    String op = "broadcast";
    Collectives.requireRoot(root, rank, size);
    exchangeHeader(op, OP_BROADCAST, data, root);
    INDArray work = isPlain(data) ? data : data.dup('c');
    try (var view = rank == root ? HostMemory.read(work) : HostMemory.readWrite(work)) {
      ByteBuffer all = bytes(view);
      if (rank == root) {
        pump(op, all, null, null);
      } else if (right == root) {
        pump(op, null, all, null);
      } else {
        // Relay: forward to the right what has already arrived from the left.
        ByteBuffer forward = all.duplicate();
        forward.limit(0);
        pump(op, forward, all, all);
      }
    }
    return work == data ? data : data.assign(work);
  }

  @Override
  public void barrier() {
    String op = "barrier";
    sendHeader.clear().putInt(OP_BARRIER).putInt(0).putInt(0).putInt(0).putLong(0).flip();
    recvHeader.clear();
    pump(op, sendHeader, recvHeader, null);
    checkHeader(op);
    // A sum needs every rank's share, so no rank leaves before every rank has come.
    ByteBuffer tiny = ByteBuffer.allocateDirect(8 * size).order(ByteOrder.LITTLE_ENDIAN);
    ringAllReduce(op, tiny, DataType.DOUBLE, size);
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      if (failure == null) {
        failure = "the collective was closed";
      }
      closeQuietly(selector);
      closeQuietly(toRight);
      closeQuietly(fromLeft);
    }
  }

  /** Reduce-scatter then all-gather over K chunks of {@code length} elements in {@code all}. */
  private void ringAllReduce(String op, ByteBuffer all, DataType type, long length) {
    int width = type.width();
    long maxChunk = (length + size - 1) / size * width;
    if (scratch.capacity() < maxChunk) {
      scratch = ByteBuffer.allocateDirect(Math.toIntExact(maxChunk)).order(ByteOrder.LITTLE_ENDIAN);
    }
    for (int s = 0; s < size - 1; s++) {
      int send = Math.floorMod(rank - s, size);
      int recv = Math.floorMod(rank - s - 1, size);
      long recvBytes = chunkEnd(recv, length) * width - chunkStart(recv, length) * width;
      ByteBuffer incoming = slice(scratch, 0, recvBytes);
      pump(op, chunk(all, send, length, width), incoming, null);
      add(chunk(all, recv, length, width), slice(scratch, 0, recvBytes), type);
    }
    for (int s = 0; s < size - 1; s++) {
      int send = Math.floorMod(rank + 1 - s, size);
      int recv = Math.floorMod(rank - s, size);
      pump(op, chunk(all, send, length, width), chunk(all, recv, length, width), null);
    }
  }

  private long chunkStart(int c, long length) {
    return c * length / size;
  }

  private long chunkEnd(int c, long length) {
    return (c + 1) * length / size;
  }

  private ByteBuffer chunk(ByteBuffer all, int c, long length, int width) {
    long start = chunkStart(c, length) * width;
    return slice(all, start, chunkEnd(c, length) * width - start);
  }

  private static void add(ByteBuffer into, ByteBuffer from, DataType type) {
    if (type == DataType.FLOAT) {
      FloatBuffer a = into.asFloatBuffer();
      FloatBuffer b = from.asFloatBuffer();
      for (int i = 0, n = a.remaining(); i < n; i++) {
        a.put(i, a.get(i) + b.get(i));
      }
    } else {
      DoubleBuffer a = into.asDoubleBuffer();
      DoubleBuffer b = from.asDoubleBuffer();
      for (int i = 0, n = a.remaining(); i < n; i++) {
        a.put(i, a.get(i) + b.get(i));
      }
    }
  }

  /** Sends this rank's header to the right, receives the left's and checks that they agree. */
  private void exchangeHeader(String op, int code, INDArray array, int root) {
    sendHeader.clear().putInt(code).putInt(array.dataType().ordinal()).putInt(Arrays.hashCode(array.shape()))
        .putInt(root).putLong(array.length()).flip();
    recvHeader.clear();
    pump(op, sendHeader, recvHeader, null);
    checkHeader(op);
  }

  private void checkHeader(String op) {
    for (int i = 0; i < HEADER_BYTES; i++) {
      if (sendHeader.get(i) != recvHeader.get(i)) {
        fail(op, String.format("peer %d called %s with %s (%d elements), this rank %s with %s (%d elements);"
                + " all ranks must call the same operation with the same shape, data type and root",
            left, describe(recvHeader.getInt(0)), type(recvHeader.getInt(4)), recvHeader.getLong(16),
            describe(sendHeader.getInt(0)), type(sendHeader.getInt(4)), sendHeader.getLong(16)));
      }
    }
  }

  private static String describe(int code) {
    return switch (code) {
      case OP_ALL_GATHER -> "allGather";
      case OP_ALL_REDUCE -> "allReduceSum";
      case OP_BROADCAST -> "broadcast";
      case OP_BARRIER -> "barrier";
      case OP_REDUCE_SCATTER -> "reduceScatterSum";
      default -> "operation " + code;
    };
  }

  private static String type(int ordinal) {
    DataType[] all = DataType.values();
    return ordinal >= 0 && ordinal < all.length ? all[ordinal].toString() : "type " + ordinal;
  }

  /**
   * Sends {@code send} to the right and receives {@code recv} from the left at the same time, either may
   * be null. With {@code relay} (the same region as {@code recv}), {@code send}'s limit follows what has
   * arrived, so a broadcast streams through this rank.
   */
  private void pump(String op, ByteBuffer send, ByteBuffer recv, ByteBuffer relay) {
    if (failure != null) {
      throw new CollectiveException(message(op, failure));
    }
    try {
      while (true) {
        if (relay != null) {
          send.limit(relay.position());
        }
        boolean sending = send != null && (send.hasRemaining() || relay != null && relay.hasRemaining());
        boolean receiving = recv != null && recv.hasRemaining();
        if (!sending && !receiving) {
          return;
        }
        boolean progress = false;
        if (receiving) {
          int n = fromLeft.read(recv);
          if (n < 0) {
            fail(op, "peer " + left + " closed the connection");
          }
          progress |= n > 0;
        }
        if (send != null && send.hasRemaining()) {
          progress |= toRight.write(send) > 0;
        }
        if (progress) {
          continue;
        }
        leftKey.interestOps(recv != null && recv.hasRemaining() ? SelectionKey.OP_READ : 0);
        rightKey.interestOps(send != null && send.hasRemaining() ? SelectionKey.OP_WRITE : 0);
        if (selector.select(Math.max(1, timeout.toMillis())) == 0) {
          int silent = recv != null && recv.hasRemaining() ? left : right;
          fail(op, "peer " + silent + " did not answer within " + timeout);
        }
        selector.selectedKeys().clear();
      }
    } catch (IOException e) {
      fail(op, "the connection to peer " + (recv != null && recv.hasRemaining() ? left : right)
          + " failed (" + e.getMessage() + ")", e);
    }
  }

  private void fail(String op, String why) {
    fail(op, why, null);
  }

  private void fail(String op, String why, Throwable cause) {
    failure = "an earlier operation failed: " + message(op, why);
    closeQuietly(selector);
    closeQuietly(toRight);
    closeQuietly(fromLeft);
    throw new CollectiveException(message(op, why), cause);
  }

  private String message(String op, String why) {
    return "Cannot " + op + " on rank " + rank + " of " + size + ": " + why;
  }

  /** Whether the array's elements are exactly its buffer, in C order, from offset 0. */
  private static boolean isPlain(INDArray a) {
    return a.ordering() == 'c' && a.offset() == 0 && a.data().length() == a.length() && !a.isView();
  }

  /** The viewed array's elements as a little-endian direct buffer over its host memory. */
  private static ByteBuffer bytes(HostMemory.View view) {
    ByteBuffer nio = view.bytes();
    if (!nio.isDirect()) {
      throw new IllegalStateException("Cannot reach the native memory of an array of " + view.length()
          + " elements: its buffer is not direct");
    }
    return slice(nio, 0, nio.capacity());
  }

  private static ByteBuffer slice(ByteBuffer b, long start, long length) {
    ByteBuffer d = b.duplicate();
    d.limit(Math.toIntExact(start + length)).position(Math.toIntExact(start));
    return d.slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  private ServerSocketChannel listen(InetSocketAddress address) throws IOException {
    ServerSocketChannel server = ServerSocketChannel.open();
    try {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(address);
      return server;
    } catch (IOException e) {
      server.close();
      throw new CollectiveException(
          "Cannot listen on " + address + " for rank " + rank + " of " + size + ": " + e.getMessage(), e);
    }
  }

  private SocketChannel connect(InetSocketAddress address, long deadline) throws IOException {
    while (true) {
      SocketChannel channel = SocketChannel.open();
      long remaining = (deadline - System.nanoTime()) / 1_000_000;
      try {
        channel.socket().connect(address, (int) Math.max(1, Math.min(remaining, Integer.MAX_VALUE)));
        return channel;
      } catch (IOException e) {
        channel.close();
        if (System.nanoTime() + CONNECT_RETRY_MILLIS * 1_000_000 >= deadline) {
          throw new CollectiveException(String.format("Cannot connect rank %d of %d to peer %d at %s:"
              + " no answer within %s (%s)", rank, size, right, address, timeout, e.getMessage()), e);
        }
        try {
          Thread.sleep(CONNECT_RETRY_MILLIS);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new CollectiveException("Cannot connect rank " + rank + " of " + size + ": interrupted", ie);
        }
      }
    }
  }

  private SocketChannel accept(ServerSocketChannel server, long deadline) throws IOException {
    long remaining = (deadline - System.nanoTime()) / 1_000_000;
    server.socket().setSoTimeout((int) Math.max(1, Math.min(remaining, Integer.MAX_VALUE)));
    try {
      return server.socket().accept().getChannel();
    } catch (SocketTimeoutException e) {
      throw new CollectiveException(String.format("Cannot connect rank %d of %d: peer %d did not connect"
          + " within %s", rank, size, left, timeout), e);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception ignored) {
        // Closing is best effort; the first error is the one reported.
      }
    }
  }
}
