package dev.clipspark.training.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.testing.MainSources;
import dev.clipspark.training.trainer.Backends;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class HostMemoryTest {

  @Test
  void hostAccessSynchronisesExactlyOnADeviceBackend() {
    boolean cuda = Backends.onClasspath() == Backends.Kind.CUDA;
    // bench/gpu-check.sh reads this line from the test's output to report the backend the tests ran on.
    System.out.println("ND4J backend: " + Nd4j.getBackend().getClass().getSimpleName());
    assertThat(HostMemory.synchronisesWithDevice()).isEqualTo(cuda);
    assertThat(HostMemory.sync()).isSameAs(cuda ? HostMemory.AFFINITY : HostMemory.NONE);
  }

  @Test
  void readsSeeWhatNd4jOpsWrote() {
    INDArray a = Nd4j.linspace(DataType.FLOAT, 1, 12, 1).reshape('c', 3, 4);
    a.muli(2);
    try (var v = HostMemory.read(a)) {
      assertThat(v.length()).isEqualTo(12);
      assertThat(v.floats().limit()).isEqualTo(12);
      assertThat(v.floats().get(0)).isEqualTo(2f);
      assertThat(v.floats().get(11)).isEqualTo(24f);
    }
    // A row of a matrix is a view 4 elements into the matrix's buffer: the view starts at its first element.
    INDArray row = a.getRow(1);
    assertThat(row.offset()).isEqualTo(4);
    try (var v = HostMemory.read(row)) {
      float[] got = new float[4];
      v.floats().get(0, got);
      assertThat(got).containsExactly(10f, 12f, 14f, 16f);
      assertThat(v.bytes().capacity()).isEqualTo(16);
      assertThat(v.bytes().order()).isEqualTo(ByteOrder.nativeOrder());
      assertThat(v.bytes().getFloat(4)).isEqualTo(12f);
    }
  }

  @Test
  void writesAreWhatNd4jOpsSeeAfterClose() {
    INDArray a = Nd4j.zeros(DataType.DOUBLE, 2, 3);
    try (var v = HostMemory.readWrite(a)) {
      for (int i = 0; i < 6; i++) {
        v.doubles().put(i, i + 1);
      }
    }
    assertThat(a.sumNumber().doubleValue()).isEqualTo(21.0);
    assertThat(a.mul(2).getDouble(1, 2)).isEqualTo(12.0);
    assertThat(a.toDoubleMatrix()[1]).containsExactly(4.0, 5.0, 6.0);

    // Writing into a view of a row leaves the rest of the matrix alone.
    INDArray m = Nd4j.zeros(DataType.FLOAT, 3, 2);
    try (var v = HostMemory.readWrite(m.getRow(2))) {
      v.floats().put(0, 7f).put(1, 8f);
    }
    assertThat(m.toFloatMatrix()).isEqualTo(new float[][] {{0, 0}, {0, 0}, {7, 8}});

    INDArray ints = Nd4j.zeros(DataType.INT, 3);
    try (var v = HostMemory.readWrite(ints)) {
      v.ints().put(1, 5);
    }
    assertThat(ints.toIntVector()).containsExactly(0, 5, 0);
  }

  @Test
  void readViewsCannotWrite() {
    INDArray a = Nd4j.ones(DataType.FLOAT, 4);
    try (var v = HostMemory.read(a)) {
      assertThat(v.writable()).isFalse();
      assertThatThrownBy(() -> v.floats().put(0, 2f)).isInstanceOf(ReadOnlyBufferException.class);
      assertThatThrownBy(() -> v.bytes().put(0, (byte) 1)).isInstanceOf(ReadOnlyBufferException.class);
    }
    assertThat(a.toFloatVector()).containsExactly(1f, 1f, 1f, 1f);
  }

  @Test
  void theProtocolSynchronisesBeforeAndTagsAfterWrites() {
    var calls = new ArrayList<String>();
    HostMemory.Sync recording = new HostMemory.Sync() {
      @Override
      public void toHost(INDArray array) {
        calls.add("toHost " + array.length());
      }

      @Override
      public void hostWritten(INDArray array) {
        calls.add("hostWritten " + array.length());
      }
    };
    INDArray a = Nd4j.zeros(DataType.FLOAT, 5);
    try (var v = HostMemory.open(a, false, recording)) {
      assertThat(calls).containsExactly("toHost 5");
      v.floats();
    }
    assertThat(calls).containsExactly("toHost 5");

    calls.clear();
    var w = HostMemory.open(a, true, recording);
    w.floats().put(0, 3f);
    assertThat(calls).containsExactly("toHost 5");
    w.close();
    w.close(); // idempotent
    assertThat(calls).containsExactly("toHost 5", "hostWritten 5");
    assertThatThrownBy(w::floats).isInstanceOf(IllegalStateException.class)
        .hasMessage("Cannot use a closed view of host memory");

    // A failure half-way still publishes what was written.
    calls.clear();
    assertThatThrownBy(() -> {
      try (var v = HostMemory.open(a, true, recording)) {
        v.floats().put(1, 4f);
        throw new IllegalStateException("boom");
      }
    }).hasMessage("boom");
    assertThat(calls).containsExactly("toHost 5", "hostWritten 5");
    assertThat(a.toFloatVector()).containsExactly(3f, 4f, 0f, 0f, 0f);
  }

  @Test
  void theAffinityManagerPathReadsAndWritesRight() {
    // The device path on any backend (on CPU the affinity manager's location calls are no-ops).
    INDArray a = Nd4j.linspace(DataType.FLOAT, 1, 4, 1);
    try (var v = HostMemory.open(a, true, HostMemory.AFFINITY)) {
      v.floats().put(3, v.floats().get(0) + v.floats().get(1));
    }
    assertThat(a.toFloatVector()).containsExactly(1f, 2f, 3f, 3f);
  }

  @Test
  void copiesConvertToDoubleAndCheckRoom() {
    INDArray f = Nd4j.createFromArray(1.5f, -2f, 3f);
    double[] into = new double[4];
    assertThat(HostMemory.copyTo(f, into)).containsExactly(1.5, -2.0, 3.0, 0.0);
    assertThat(HostMemory.copyTo(Nd4j.createFromArray(4L, 5L), new long[2])).containsExactly(4L, 5L);
    assertThatThrownBy(() -> HostMemory.copyTo(f, new double[2])).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot copy the 3 elements of an array of shape [3] into an array of 2");
    assertThatThrownBy(() -> HostMemory.copyTo(Nd4j.createFromArray(1, 2), new double[2]))
        .hasMessage("Cannot copy INT elements to doubles: only FLOAT and DOUBLE are supported");
  }

  @Test
  void nonContiguousArraysAndWrongTypesAreClearErrors() {
    INDArray m = Nd4j.zeros(DataType.FLOAT, 3, 4);
    assertThatThrownBy(() -> HostMemory.read(m.get(NDArrayIndex.all(), NDArrayIndex.point(1))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Cannot access the host memory of an array of shape [3]")
        .hasMessageEndingWith("it is not C-contiguous; use dup('c')");
    assertThatThrownBy(() -> HostMemory.readWrite(m.transpose()))
        .hasMessageContaining("shape [4, 3] in order f");
    try (var v = HostMemory.read(m)) {
      assertThatThrownBy(v::doubles).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("Cannot view the FLOAT elements of an array of shape [3, 4] as DOUBLE");
    }
  }

  // ---- no direct buffer access outside HostMemory ----------------------------------------------------------

  /** Direct host access to ND4J memory that bypasses the device synchronisation. */
  private static final List<Pattern> DIRECT_ACCESS = List.of(
      Pattern.compile("\\.asNio\\w*\\s*\\("),
      Pattern.compile("\\.data\\(\\)\\s*\\.\\s*(as\\w+|addressPointer|pointer|indexer)\\s*\\("));
  /** In files that handle a {@code DataBuffer}: its array copies. */
  private static final Pattern BUFFER_COPY = Pattern.compile("\\.as(Float|Double|Int|Long|Bytes)\\s*\\(\\s*\\)");

  @Test
  void noMainCodeOutsideHostMemoryTouchesArrayMemoryDirectly() throws IOException {
    var offenders = MainSources.offenders(p -> p.getFileName().toString().equals("HostMemory.java"),
        HostMemoryTest::directAccess);
    assertThat(offenders).as("read and write ND4J array memory through dev.clipspark.training.device.HostMemory,"
        + " which keeps the GPU copy in step").isEmpty();
  }

  @Test
  void theScanFindsDirectAccess(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("Bad.java");
    Files.writeString(file, String.join("\n",
        "import org.nd4j.linalg.api.buffer.DataBuffer;",
        "class Bad {",
        "  // a.data().asNio() in a comment is fine",
        "  void f(INDArray a, DataBuffer b) {",
        "    var x = a.data().asNioFloat();",
        "    var y = a.data() . asDouble();",
        "    var z = b.asFloat();",
        "    var ok = a.toFloatVector();",
        "  }",
        "}"));
    assertThat(directAccess(file)).hasSize(3).allMatch(s -> s.startsWith(file + ":"))
        .anyMatch(s -> s.contains(":5:")).anyMatch(s -> s.contains(":6:")).anyMatch(s -> s.contains(":7:"));
  }

  private static List<String> directAccess(Path file) {
    boolean buffers;
    try {
      buffers = Files.readString(file).contains("DataBuffer");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return MainSources.lines(file, l -> DIRECT_ACCESS.stream().anyMatch(p -> p.matcher(l).find())
        || (buffers && BUFFER_COPY.matcher(l).find()));
  }
}
