package dev.clipspark.training.weights;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The values {@link SafeUnpickler} builds besides strings, numbers, booleans, null, lists and maps. */
final class Pickled {

  private Pickled() {}

  /** A Python tuple (lists are {@link java.util.List}s, so the two stay apart). */
  record Tuple(List<Object> items) {
    Tuple {
      items = Collections.unmodifiableList(new ArrayList<>(items));
    }
  }

  /** An allowed global, as pushed by {@code GLOBAL}; what it builds is decided where it is called. */
  record Global(String module, String name) {
    String qualified() {
      return module + "." + name;
    }
  }

  /**
   * A storage named by a persistent id {@code ('storage', torch.XStorage, key, location, numel)}: its bytes are the
   * archive record {@code data/KEY}.
   */
  record StorageRef(TensorType type, String key, long numel) {}

  /**
   * A tensor built by {@code torch._utils._rebuild_tensor_v2}: a view of {@code storage} (in elements) with
   * PyTorch's sizes and strides.
   */
  record Tensor(StorageRef storage, long offset, long[] size, long[] stride) {
    Tensor {
      size = size.clone();
      stride = stride.clone();
    }

    @Override
    public long[] size() {
      return size.clone();
    }

    @Override
    public long[] stride() {
      return stride.clone();
    }

    @Override
    public String toString() {
      return "tensor " + storage.type() + Arrays.toString(size);
    }
  }

  /**
   * A TorchScript module object ({@code __torch__.*} class): its class name and its attributes (tensors,
   * submodules, plain values) as the archive's pickle sets them; no code of the class is run.
   */
  static final class ScriptObject {
    final String className;
    final Map<String, Object> attributes = new LinkedHashMap<>();

    ScriptObject(String className) {
      this.className = className;
    }

    @Override
    public String toString() {
      return className + attributes.keySet();
    }
  }
}
