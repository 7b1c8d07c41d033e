package dev.clipspark.training.device;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The one place where ClipSpark reads and writes the memory of ND4J arrays directly, through NIO buffers over
 * their host copy, for single-pass loops that ND4J's ops do slowly (AdamW, BatchNorm, the TCP ring collective,
 * checksums, the data pipeline, checkpoint I/O).
 *
 * <p>On ND4J's CUDA backend an array has a host copy and a device copy, and ND4J tracks which one is newer.
 * Host access must keep that bookkeeping right: before the host copy is read or written it is brought up to date
 * with {@code AffinityManager.ensureLocation(array, HOST)}, and after it was written the array is tagged with
 * {@code tagLocation(array, HOST)}, so that the next operation on the device copies the new values over instead
 * of silently using the old ones. On the CPU backend there is a single copy and both steps are skipped (the
 * backend is detected once, when this class initialises), so a view costs one small object.
 *
 * <p>Use a view in a {@code try} block; closing a writable view publishes the writes, also when the block
 * fails half-way (the host copy then holds what was written, and the device copy follows it):
 *
 * <pre>{@code
 * try (HostMemory.View p = HostMemory.readWrite(param); HostMemory.View g = HostMemory.read(grad)) {
 *   FloatBuffer pf = p.floats();
 *   FloatBuffer gf = g.floats();
 *   for (int i = 0; i < pf.limit(); i++) {
 *     pf.put(i, pf.get(i) - 0.1f * gf.get(i));
 *   }
 * }
 * }</pre>
 *
 * <p>A view covers exactly the array's elements (from its offset in the data buffer), so the array must be
 * C-contiguous; the buffers are valid until the view is closed, and the view keeps the array reachable until
 * then. Buffers of a {@link #read} view are read-only. Reading and writing through ND4J's own API
 * ({@code getFloat}, {@code toFloatVector}, {@code Nd4j.createFromArray}, {@code assign}) needs none of this:
 * ND4J synchronises those itself. {@code HostMemoryTest} fails if {@code asNio...} or {@code data().as...}
 * appears in main code outside this class.
 *
 * <p>Threads: a view may be filled by several threads at once (disjoint ranges), but open and close it on the
 * thread that owns the array (on CUDA, the thread bound to the array's GPU).
 */
public final class HostMemory {

  /** What host access does to keep ND4J's host and device copies consistent. */
  interface Sync {
    /** Brings the host copy up to date, before it is read or written. */
    void toHost(INDArray array);

    /** Records that the host copy is the newer one, after it was written. */
    void hostWritten(INDArray array);
  }

  /** The CPU backend: one copy, nothing to do. */
  static final Sync NONE = new Sync() {
    @Override
    public void toHost(INDArray array) {}

    @Override
    public void hostWritten(INDArray array) {}
  };

  /** A device backend (CUDA): ND4J's affinity manager moves and tags the copies. */
  static final Sync AFFINITY = new Sync() {
    @Override
    public void toHost(INDArray array) {
      Nd4j.getAffinityManager().ensureLocation(array, AffinityManager.Location.HOST);
    }

    @Override
    public void hostWritten(INDArray array) {
      Nd4j.getAffinityManager().tagLocation(array, AffinityManager.Location.HOST);
    }
  };

  private static volatile Sync sync;

  private HostMemory() {}

  /** Whether host access synchronises with a device (ND4J's backend is not the CPU one). */
  public static boolean synchronisesWithDevice() {
    return sync() != NONE;
  }

  /** A read-only view of the array's elements (the host copy brought up to date first). */
  public static View read(INDArray array) {
    return open(array, false, sync());
  }

  /**
   * A view for reading and writing the array's elements in place; {@link View#close()} publishes the writes to
   * the device copy. Use it also for an array whose every element is about to be overwritten.
   */
  public static View readWrite(INDArray array) {
    return open(array, true, sync());
  }

  /**
   * Copies the array's elements (FLOAT or DOUBLE, C-contiguous), converted to double, into the start of
   * {@code into}.
   *
   * @throws IllegalArgumentException if {@code into} is shorter than the array
   */
  public static double[] copyTo(INDArray array, double[] into) {
    try (View v = read(array)) {
      requireRoom(array, into.length);
      int n = v.length();
      switch (array.dataType()) {
        case DOUBLE -> v.doubles().get(0, into, 0, n);
        case FLOAT -> {
          FloatBuffer f = v.floats();
          for (int i = 0; i < n; i++) {
            into[i] = f.get(i);
          }
        }
        default -> throw new IllegalArgumentException("Cannot copy " + array.dataType()
            + " elements to doubles: only FLOAT and DOUBLE are supported");
      }
    }
    return into;
  }

  /**
   * Copies the array's LONG elements (C-contiguous) into the start of {@code into}.
   *
   * @throws IllegalArgumentException if {@code into} is shorter than the array or the array is not LONG
   */
  public static long[] copyTo(INDArray array, long[] into) {
    try (View v = read(array)) {
      requireRoom(array, into.length);
      v.longs().get(0, into, 0, v.length());
    }
    return into;
  }

  private static void requireRoom(INDArray array, int room) {
    if (array.length() > room) {
      throw new IllegalArgumentException("Cannot copy the " + array.length() + " elements of an array of shape "
          + Arrays.toString(array.shape()) + " into an array of " + room);
    }
  }

  /** The backend's synchronisation, detected on first use. */
  static Sync sync() {
    Sync s = sync;
    if (s == null) {
      s = Nd4j.getEnvironment().isCPU() ? NONE : AFFINITY;
      sync = s;
    }
    return s;
  }

  /** Opens a view with the given synchronisation (tests pass their own to watch the protocol). */
  static View open(INDArray array, boolean writable, Sync with) {
    requireContiguous(array);
    with.toHost(array);
    return new View(array, writable, with);
  }

  private static void requireContiguous(INDArray a) {
    if (a.length() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("Cannot access the host memory of an array of shape "
          + Arrays.toString(a.shape()) + ": more than 2^31 - 1 elements");
    }
    if (!(a.length() <= 1 || (a.ordering() == 'c' && a.elementWiseStride() == 1))) {
      throw new IllegalArgumentException("Cannot access the host memory of an array of shape "
          + Arrays.toString(a.shape()) + " in order " + a.ordering() + " with element-wise stride "
          + a.elementWiseStride() + ": it is not C-contiguous; use dup('c')");
    }
  }

  /**
   * Host access to the elements of one C-contiguous array, element 0 at index 0 of each buffer. Buffers are
   * made on demand and are valid until {@link #close()}; the byte buffer is in native byte order.
   */
  public static final class View implements AutoCloseable {
    private final INDArray array;
    private final boolean writable;
    private final Sync sync;
    private boolean closed;

    private View(INDArray array, boolean writable, Sync sync) {
      this.array = array;
      this.writable = writable;
      this.sync = sync;
    }

    /** The array this view is over. */
    public INDArray array() {
      return array;
    }

    /** Elements in the view. */
    public int length() {
      return (int) array.length();
    }

    /** Whether the buffers may be written (a {@link #readWrite} view). */
    public boolean writable() {
      return writable;
    }

    /** The elements' bytes, {@code length() * width} of them, in native byte order. */
    public ByteBuffer bytes() {
      requireOpen();
      long width = array.dataType().width();
      if ((array.offset() + array.length()) * width > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("Cannot view the elements of an array of shape "
            + Arrays.toString(array.shape()) + " as bytes: they end past 2^31 - 1 bytes into its buffer");
      }
      ByteBuffer all = array.data().asNio();
      ByteBuffer b = all.slice((int) (array.offset() * width), (int) (array.length() * width))
          .order(ByteOrder.nativeOrder());
      return writable ? b : b.asReadOnlyBuffer().order(ByteOrder.nativeOrder());
    }

    /** The elements of a FLOAT array. */
    public FloatBuffer floats() {
      requireType(DataType.FLOAT);
      FloatBuffer b = array.data().asNioFloat().slice(Math.toIntExact(array.offset()), length());
      return writable ? b : b.asReadOnlyBuffer();
    }

    /** The elements of a DOUBLE array. */
    public DoubleBuffer doubles() {
      requireType(DataType.DOUBLE);
      DoubleBuffer b = array.data().asNioDouble().slice(Math.toIntExact(array.offset()), length());
      return writable ? b : b.asReadOnlyBuffer();
    }

    /** The elements of an INT array. */
    public IntBuffer ints() {
      requireType(DataType.INT);
      IntBuffer b = array.data().asNioInt().slice(Math.toIntExact(array.offset()), length());
      return writable ? b : b.asReadOnlyBuffer();
    }

    /** The elements of a LONG array. */
    public LongBuffer longs() {
      requireType(DataType.LONG);
      LongBuffer b = array.data().asNioLong().slice(Math.toIntExact(array.offset()), length());
      return writable ? b : b.asReadOnlyBuffer();
    }

    private void requireType(DataType type) {
      requireOpen();
      if (array.dataType() != type) {
        throw new IllegalArgumentException("Cannot view the " + array.dataType() + " elements of an array of shape "
            + Arrays.toString(array.shape()) + " as " + type);
      }
    }

    private void requireOpen() {
      if (closed) {
        throw new IllegalStateException("Cannot use a closed view of host memory");
      }
    }

    /**
     * Ends the access: for a writable view, tags the host copy as the newer one (on CUDA the next device op
     * copies it over). Idempotent.
     */
    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      try {
        if (writable) {
          sync.hostWritten(array);
        }
      } finally {
        Reference.reachabilityFence(array); // its native memory was used through buffers that do not hold it
      }
    }
  }
}
