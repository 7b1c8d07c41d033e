package dev.clipspark.training.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clipspark.training.testing.MainSources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class BroadcastsTest {

  private static INDArray matrix(DataType type) {
    return Nd4j.linspace(type, 1, 12, 1).reshape('c', 3, 4);
  }

  @Test
  void rowOperationsApplyTheRowToEveryRow() {
    for (DataType type : List.of(DataType.FLOAT, DataType.DOUBLE)) {
      INDArray row = Nd4j.createFromArray(1.0, 2.0, 4.0, 8.0).castTo(type);
      double[][] x = matrix(DataType.DOUBLE).toDoubleMatrix();
      double[][] add = new double[3][4];
      double[][] sub = new double[3][4];
      double[][] mul = new double[3][4];
      double[][] div = new double[3][4];
      for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++) {
          double r = row.getDouble(j);
          add[i][j] = x[i][j] + r;
          sub[i][j] = x[i][j] - r;
          mul[i][j] = x[i][j] * r;
          div[i][j] = x[i][j] / r;
        }
      }
      INDArray a = matrix(type);
      assertThat(Broadcasts.addiRowVector(a, row)).isSameAs(a);
      assertThat(a.toDoubleMatrix()).isEqualTo(add);
      assertThat(Broadcasts.subiRowVector(matrix(type), row).toDoubleMatrix()).isEqualTo(sub);
      assertThat(Broadcasts.muliRowVector(matrix(type), row).toDoubleMatrix()).isEqualTo(mul);
      assertThat(Broadcasts.diviRowVector(matrix(type), row).toDoubleMatrix()).isEqualTo(div);
      // The copying forms leave their input alone; a [1, n] row works as well as an [n] one.
      INDArray m = matrix(type);
      assertThat(Broadcasts.subRowVector(m, row.reshape(1, 4)).toDoubleMatrix()).isEqualTo(sub);
      assertThat(Broadcasts.mulRowVector(m, row).toDoubleMatrix()).isEqualTo(mul);
      assertThat(m.toDoubleMatrix()).isEqualTo(x);
    }
  }

  @Test
  void columnOperationsApplyTheColumnToEveryColumn() {
    for (DataType type : List.of(DataType.FLOAT, DataType.DOUBLE)) {
      INDArray column = Nd4j.createFromArray(2.0, -1.0, 0.5).castTo(type).reshape(3, 1);
      double[][] x = matrix(DataType.DOUBLE).toDoubleMatrix();
      double[][] add = new double[3][4];
      double[][] sub = new double[3][4];
      double[][] mul = new double[3][4];
      double[][] div = new double[3][4];
      for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++) {
          double c = column.getDouble(i, 0);
          add[i][j] = x[i][j] + c;
          sub[i][j] = x[i][j] - c;
          mul[i][j] = x[i][j] * c;
          div[i][j] = x[i][j] / c;
        }
      }
      assertThat(Broadcasts.addiColumnVector(matrix(type), column).toDoubleMatrix()).isEqualTo(add);
      assertThat(Broadcasts.subiColumnVector(matrix(type), column).toDoubleMatrix()).isEqualTo(sub);
      assertThat(Broadcasts.muliColumnVector(matrix(type), column).toDoubleMatrix()).isEqualTo(mul);
      assertThat(Broadcasts.diviColumnVector(matrix(type), column).toDoubleMatrix()).isEqualTo(div);
      INDArray m = matrix(type);
      assertThat(Broadcasts.subColumnVector(m, column.reshape(3)).toDoubleMatrix()).isEqualTo(sub);
      assertThat(Broadcasts.mulColumnVector(m, column).toDoubleMatrix()).isEqualTo(mul);
      assertThat(Broadcasts.divColumnVector(m, column).toDoubleMatrix()).isEqualTo(div);
      assertThat(m.toDoubleMatrix()).isEqualTo(x);
    }
  }

  @Test
  void inPlaceOnAViewWritesThroughToTheArrayBehindIt() {
    // As the transformers add positions: a [b, t, w] activation seen as [b, t * w].
    INDArray x = Nd4j.zeros(DataType.DOUBLE, 2, 3, 2);
    INDArray positions = Nd4j.linspace(DataType.DOUBLE, 1, 6, 1);
    Broadcasts.addiRowVector(x.reshape('c', 2, 6), positions);
    assertThat(x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1)).toDoubleMatrix())
        .isEqualTo(new double[][] {{1, 2}, {3, 4}, {5, 6}});
  }

  @Test
  void wrongShapesAndTypesAreRefusedWithTheShapes() {
    assertThatThrownBy(() -> Broadcasts.addiRowVector(matrix(DataType.FLOAT), Nd4j.ones(DataType.FLOAT, 3)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cannot broadcast a row of shape [3] over a matrix of shape [3, 4]: it must be a vector of 4"
            + " elements");
    assertThatThrownBy(() -> Broadcasts.subiColumnVector(matrix(DataType.FLOAT), Nd4j.ones(DataType.FLOAT, 2, 2)))
        .hasMessageContaining("column of shape [2, 2]").hasMessageContaining("a vector of 3 elements");
    assertThatThrownBy(() -> Broadcasts.addiRowVector(Nd4j.ones(DataType.FLOAT, 2, 3, 4), Nd4j.ones(DataType.FLOAT, 4)))
        .hasMessage("Cannot broadcast a vector over an array of shape [2, 3, 4]: it must be a matrix (rank 2)");
    assertThatThrownBy(() -> Broadcasts.addiRowVector(matrix(DataType.FLOAT), Nd4j.ones(DataType.DOUBLE, 4)))
        .hasMessage("Cannot broadcast a DOUBLE vector over a FLOAT matrix: cast one of them first");
  }

  // ---- no main code calls ND4J's row/column-vector methods --------------------------------------------------

  /** INDArray's row- and column-vector arithmetic, which lets the op's buffers be freed while it runs. */
  private static final Pattern ND4J_VECTOR_OP =
      Pattern.compile("(?<!Broadcasts)\\.(add|sub|mul|div|rdiv|rsub)i?(Row|Column)Vector\\s*\\(");

  @Test
  void noMainCodeUsesNd4jsRowOrColumnVectorMethods() throws IOException {
    var offenders = MainSources.offenders(p -> false, p -> MainSources.matching(p, ND4J_VECTOR_OP));
    assertThat(offenders).as("use dev.clipspark.training.nn.Broadcasts, which keeps the op reachable while native"
        + " code runs (see its documentation)").isEmpty();
  }

  @Test
  void theScanFindsNd4jVectorOps(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("Bad.java");
    Files.writeString(file, String.join("\n",
        "class Bad {",
        "  // x.addiRowVector(b) in a comment is fine",
        "  void f(INDArray x, INDArray b) {",
        "    x.addiRowVector(b);",
        "    var y = x.mul(2).divColumnVector(b);",
        "    Broadcasts.addiRowVector(x, b);",
        "  }",
        "}"));
    assertThat(MainSources.matching(file, ND4J_VECTOR_OP)).hasSize(2).anyMatch(s -> s.contains(":4:"))
        .anyMatch(s -> s.contains(":5:"));
  }
}
