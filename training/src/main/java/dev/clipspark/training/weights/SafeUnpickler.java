package dev.clipspark.training.weights;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import dev.clipspark.training.weights.Pickled.Global;
import dev.clipspark.training.weights.Pickled.ScriptObject;
import dev.clipspark.training.weights.Pickled.StorageRef;
import dev.clipspark.training.weights.Pickled.Tensor;
import dev.clipspark.training.weights.Pickled.Tuple;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A pickle reader that builds only data: tensors (as {@link Tensor} views of {@link StorageRef}s), dicts and
 * {@code OrderedDict}s (as {@link LinkedHashMap}s), lists, {@link Tuple}s, strings, bytes, numbers, booleans and
 * None, plus TorchScript module objects ({@code __torch__.*} classes) as {@link ScriptObject}s holding their
 * attributes. It interprets the opcodes of pickle protocols 0 to 4 that {@code torch.save} and
 * {@code torch.jit.save} emit; {@code GLOBAL} may name only the functions and classes listed in {@link #ALLOWED}
 * (and {@code __torch__.*} classes), anything else ({@code os.system}, {@code builtins.eval}, ...) is refused by
 * name before anything is built. No code is run and nothing outside the given bytes is read.
 */
final class SafeUnpickler {

  /** Globals a weights pickle may name, besides the storage classes and {@code __torch__.*} classes. */
  static final Set<String> ALLOWED = Set.of(
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_parameter",
      "torch._tensor._rebuild_from_type_v2",
      "torch.Tensor",
      "torch.nn.parameter.Parameter",
      "torch.jit._pickle.restore_type_tag",
      "torch.jit._pickle.build_intlist",
      "torch.jit._pickle.build_floatlist",
      "torch.jit._pickle.build_boollist",
      "torch.jit._pickle.build_doublelist",
      "torch.jit._pickle.build_tensorlist");

  private static final Pattern STORAGE_KEY = Pattern.compile("[A-Za-z0-9_.]{1,64}");
  private static final Object MARK = new Object() {
    @Override
    public String toString() {
      return "MARK";
    }
  };

  private final String origin;
  private final ByteBuffer in;
  private final Deque<Integer> marks = new ArrayDeque<>();
  private final List<Object> stackList = new ArrayList<>();
  private final Map<Long, Object> memo = new HashMap<>();

  private SafeUnpickler(String origin, byte[] bytes) {
    this.origin = origin;
    this.in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Reads one pickle.
   *
   * @param origin names the pickle in error messages ({@code FILE!archive/data.pkl})
   * @throws WeightsException for a global that is not allowed, an opcode this reader does not interpret, or a
   *     pickle that is damaged or ends early
   */
  static Object load(String origin, byte[] bytes) {
    var reader = new SafeUnpickler(origin, bytes);
    try {
      return reader.run();
    } catch (java.nio.BufferUnderflowException | IndexOutOfBoundsException e) {
      throw new WeightsException("Cannot read " + origin + ": the pickle ends early (a truncated or damaged file)", e);
    } catch (ClassCastException | ArithmeticException | IllegalArgumentException | NullPointerException
        | NegativeArraySizeException | UnsupportedOperationException e) {
      if (e instanceof WeightsException w) {
        throw w;
      }
      throw new WeightsException("Cannot read " + origin + ": the pickle is not a weights file this reader "
          + "understands (" + e.getMessage() + ")", e);
    }
  }

  private Object run() {
    while (true) {
      int op = in.get() & 0xff;
      switch (op) {
        case 0x80 -> { // PROTO
          int version = in.get() & 0xff;
          if (version > 5) {
            throw fail("pickle protocol " + version + " is not supported (0 to 5 are)");
          }
        }
        case 0x95 -> in.getLong(); // FRAME: the frame's length, its content follows inline
        case '.' -> { // STOP
          return pop();
        }
        case '(' -> { // MARK
          marks.push(stackList.size());
        }
        case '0' -> pop(); // POP
        case '1' -> popMark(); // POP_MARK
        case '2' -> push(peek()); // DUP
        case 'N' -> push(null);
        case 0x88 -> push(Boolean.TRUE);
        case 0x89 -> push(Boolean.FALSE);
        case 'J' -> push((long) in.getInt()); // BININT
        case 'K' -> push((long) (in.get() & 0xff)); // BININT1
        case 'M' -> push((long) (in.getShort() & 0xffff)); // BININT2
        case 'I' -> { // INT
          String s = line();
          push(switch (s) {
            case "00" -> Boolean.FALSE;
            case "01" -> Boolean.TRUE;
            default -> Long.parseLong(s);
          });
        }
        case 'L' -> { // LONG
          String s = line();
          push(integer(new BigInteger(s.endsWith("L") ? s.substring(0, s.length() - 1) : s)));
        }
        case 0x8a -> push(longBytes(in.get() & 0xff)); // LONG1
        case 0x8b -> push(longBytes(length(in.getInt()))); // LONG4
        case 'F' -> push(Double.parseDouble(line())); // FLOAT
        case 'G' -> push(ByteBuffer.wrap(bytes(8)).order(ByteOrder.BIG_ENDIAN).getDouble()); // BINFLOAT
        case 'T' -> push(new String(bytes(length(in.getInt())), ISO_8859_1)); // BINSTRING
        case 'U' -> push(new String(bytes(in.get() & 0xff), ISO_8859_1)); // SHORT_BINSTRING
        case 'X' -> push(new String(bytes(length(in.getInt())), UTF_8)); // BINUNICODE
        case 0x8c -> push(new String(bytes(in.get() & 0xff), UTF_8)); // SHORT_BINUNICODE
        case 0x8d -> push(new String(bytes(length(in.getLong())), UTF_8)); // BINUNICODE8
        case 'V' -> push(line()); // UNICODE (raw-unicode-escape; weights pickles hold ASCII names)
        case 'B' -> push(bytes(length(in.getInt()))); // BINBYTES
        case 'C' -> push(bytes(in.get() & 0xff)); // SHORT_BINBYTES
        case 0x8e -> push(bytes(length(in.getLong()))); // BINBYTES8
        case ']' -> push(new ArrayList<>()); // EMPTY_LIST
        case 'l' -> push(new ArrayList<>(popMark())); // LIST
        case 'a' -> { // APPEND
          Object v = pop();
          list(peek()).add(v);
        }
        case 'e' -> { // APPENDS
          List<Object> items = popMark();
          list(peek()).addAll(items);
        }
        case ')' -> push(new Tuple(List.of())); // EMPTY_TUPLE
        case 't' -> push(new Tuple(popMark())); // TUPLE
        case 0x85 -> push(new Tuple(listOf(pop()))); // TUPLE1
        case 0x86 -> { // TUPLE2
          Object b = pop();
          Object a = pop();
          push(new Tuple(listOf(a, b)));
        }
        case 0x87 -> { // TUPLE3
          Object c = pop();
          Object b = pop();
          Object a = pop();
          push(new Tuple(listOf(a, b, c)));
        }
        case '}' -> push(new LinkedHashMap<Object, Object>()); // EMPTY_DICT
        case 'd' -> { // DICT
          List<Object> items = popMark();
          var map = new LinkedHashMap<Object, Object>();
          putAll(map, items);
          push(map);
        }
        case 's' -> { // SETITEM
          Object v = pop();
          Object k = pop();
          map(peek()).put(key(k), v);
        }
        case 'u' -> { // SETITEMS
          List<Object> items = popMark();
          putAll(map(peek()), items);
        }
        case 'c' -> { // GLOBAL
          String module = line();
          String name = line();
          push(global(module, name));
        }
        case 0x93 -> { // STACK_GLOBAL
          String name = string(pop());
          String module = string(pop());
          push(global(module, name));
        }
        case 'R' -> { // REDUCE
          Object args = pop();
          Object callable = pop();
          push(call(callable, tuple(args)));
        }
        case 0x81 -> { // NEWOBJ
          Object args = pop();
          Object cls = pop();
          push(newObject(cls, tuple(args)));
        }
        case 'b' -> { // BUILD
          Object state = pop();
          build(peek(), state);
        }
        case 'Q' -> push(persistent(pop())); // BINPERSID
        case 'P' -> throw fail("text persistent ids (PERSID) are not used by PyTorch and are not supported");
        case 'p' -> memo.put(Long.parseLong(line()), peek()); // PUT
        case 'q' -> memo.put((long) (in.get() & 0xff), peek()); // BINPUT
        case 'r' -> memo.put(in.getInt() & 0xffffffffL, peek()); // LONG_BINPUT
        case 0x94 -> memo.put((long) memo.size(), peek()); // MEMOIZE
        case 'g' -> push(memo(Long.parseLong(line()))); // GET
        case 'h' -> push(memo(in.get() & 0xff)); // BINGET
        case 'j' -> push(memo(in.getInt() & 0xffffffffL)); // LONG_BINGET
        default -> throw fail(String.format("opcode 0x%02x at byte %d is not allowed in a weights file (only the "
            + "data opcodes torch.save writes are)", op, in.position() - 1));
      }
    }
  }

  private Object global(String module, String name) {
    String qualified = module + "." + name;
    if (ALLOWED.contains(qualified) || qualified.startsWith("__torch__.")
        || ("torch".equals(module) && TensorType.ofStorage(name) != null)) {
      return new Global(module, name);
    }
    throw new WeightsException(String.format("Cannot read %s: its pickle names the global %s, which a weights "
        + "file may not use (nothing was run). Allowed: %s, the storage classes %s and TorchScript __torch__.* "
        + "module classes", origin, qualified, String.join(", ", new java.util.TreeSet<>(ALLOWED)),
        TensorType.storageNames()));
  }

  private Object call(Object callable, List<Object> args) {
    if (!(callable instanceof Global g)) {
      throw fail("REDUCE calls " + describe(callable) + ", which is not an allowed function");
    }
    switch (g.qualified()) {
      case "collections.OrderedDict" -> {
        var map = new LinkedHashMap<Object, Object>();
        if (!args.isEmpty() && args.get(0) != null) {
          for (Object item : listFrom(args.get(0))) {
            List<Object> pair = tuple(item);
            map.put(key(pair.get(0)), pair.get(1));
          }
        }
        return map;
      }
      case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> {
        if (args.size() < 4) {
          throw fail(g.qualified() + " takes at least 4 arguments, the pickle gives " + args.size());
        }
        if (!(args.get(0) instanceof StorageRef storage)) {
          throw fail(g.qualified() + " is given " + describe(args.get(0)) + " instead of a storage");
        }
        long[] size = longs(args.get(2));
        long[] stride = longs(args.get(3));
        long offset = number(args.get(1));
        if (size.length != stride.length || offset < 0 || java.util.Arrays.stream(size).anyMatch(d -> d < 0)) {
          throw fail(String.format("a tensor of storage %s has size %s, stride %s and offset %d, which do not fit "
              + "together", storage.key(), java.util.Arrays.toString(size), java.util.Arrays.toString(stride), offset));
        }
        return new Tensor(storage, offset, size, stride);
      }
      case "torch._utils._rebuild_parameter" -> {
        return args.get(0);
      }
      case "torch._tensor._rebuild_from_type_v2" -> {
        // (func, new_type, args, state): a tensor subclass; rebuild it as its base tensor.
        return call(args.get(0), tuple(args.get(2)));
      }
      case "torch.jit._pickle.restore_type_tag" -> {
        return args.get(0);
      }
      case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_floatlist",
          "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_doublelist",
          "torch.jit._pickle.build_tensorlist" -> {
        return new ArrayList<>(listFrom(args.get(0)));
      }
      default -> throw fail(g.qualified() + " cannot be called by a weights pickle");
    }
  }

  private Object newObject(Object cls, List<Object> args) {
    if (cls instanceof Global g && g.module().startsWith("__torch__")) {
      return new ScriptObject(g.qualified());
    }
    if (cls instanceof Global g && "collections.OrderedDict".equals(g.qualified())) {
      return new LinkedHashMap<Object, Object>();
    }
    throw fail("NEWOBJ creates " + describe(cls) + ", which is not an allowed class");
  }

  @SuppressWarnings("unchecked")
  private void build(Object target, Object state) {
    if (target instanceof ScriptObject object) {
      if (state instanceof Map<?, ?> map) {
        map.forEach((k, v) -> object.attributes.put(string(k), v));
        return;
      }
      if (state instanceof Tuple t) {
        // (dict, slots) state: take the dict part.
        if (!t.items().isEmpty() && t.items().get(0) instanceof Map<?, ?> map) {
          map.forEach((k, v) -> object.attributes.put(string(k), v));
        }
        return;
      }
      object.attributes.put("__state__", state);
      return;
    }
    if (target instanceof Map) {
      // An OrderedDict's instance attributes (a state dict's _metadata): not weights, ignored.
      return;
    }
    throw fail("BUILD sets the state of " + describe(target) + ", which is not allowed");
  }

  private Object persistent(Object pid) {
    List<Object> id = tuple(pid);
    if (id.size() < 5 || !"storage".equals(id.get(0))) {
      throw fail("a persistent id must be ('storage', type, key, location, size), not " + describe(pid));
    }
    if (!(id.get(1) instanceof Global g) || !"torch".equals(g.module()) || TensorType.ofStorage(g.name()) == null) {
      throw fail("storage type " + describe(id.get(1)) + " is not supported; supported: " + TensorType.storageNames());
    }
    String key = string(id.get(2));
    if (!STORAGE_KEY.matcher(key).matches()) {
      throw fail("storage key '" + key + "' is not a plain record name");
    }
    long numel = number(id.get(4));
    if (numel < 0) {
      throw fail("storage " + key + " has a negative size " + numel);
    }
    return new StorageRef(TensorType.ofStorage(g.name()), key, numel);
  }

  private WeightsException fail(String what) {
    return new WeightsException("Cannot read " + origin + ": " + what);
  }

  private void push(Object o) {
    stackList.add(o);
  }

  private Object pop() {
    if (stackList.isEmpty() || (!marks.isEmpty() && marks.peek() == stackList.size())) {
      throw fail("the pickle pops an empty stack (a damaged file)");
    }
    return stackList.remove(stackList.size() - 1);
  }

  private Object peek() {
    if (stackList.isEmpty()) {
      throw fail("the pickle reads an empty stack (a damaged file)");
    }
    return stackList.get(stackList.size() - 1);
  }

  private List<Object> popMark() {
    if (marks.isEmpty()) {
      throw fail("the pickle closes a MARK it never opened (a damaged file)");
    }
    int at = marks.pop();
    var items = new ArrayList<>(stackList.subList(at, stackList.size()));
    stackList.subList(at, stackList.size()).clear();
    return items;
  }

  private Object memo(long index) {
    if (!memo.containsKey(index)) {
      throw fail("the pickle reads memo entry " + index + ", which was never stored (a damaged file)");
    }
    return memo.get(index);
  }

  private String line() {
    var s = new StringBuilder();
    while (true) {
      byte b = in.get();
      if (b == '\n') {
        return s.toString();
      }
      s.append((char) (b & 0xff));
      if (s.length() > 4096) {
        throw fail("a text line of the pickle is longer than 4096 bytes");
      }
    }
  }

  private byte[] bytes(int n) {
    byte[] b = new byte[n];
    in.get(b);
    return b;
  }

  private int length(long n) {
    if (n < 0 || n > in.remaining()) {
      throw fail("a length of " + n + " bytes runs past the end of the pickle (a truncated or damaged file)");
    }
    return (int) n;
  }

  private Object longBytes(int n) {
    byte[] little = bytes(n);
    if (n == 0) {
      return 0L;
    }
    byte[] big = new byte[n];
    for (int i = 0; i < n; i++) {
      big[i] = little[n - 1 - i];
    }
    return integer(new BigInteger(big));
  }

  private static Object integer(BigInteger v) {
    return v.bitLength() < 64 ? (Object) v.longValue() : v;
  }

  private static List<Object> listOf(Object... items) {
    var out = new ArrayList<Object>(items.length);
    for (Object o : items) {
      out.add(o);
    }
    return out;
  }

  private void putAll(Map<Object, Object> map, List<Object> items) {
    if (items.size() % 2 != 0) {
      throw fail("a dict is given an odd number of keys and values");
    }
    for (int i = 0; i < items.size(); i += 2) {
      map.put(key(items.get(i)), items.get(i + 1));
    }
  }

  private Object key(Object k) {
    if (k == null || k instanceof String || k instanceof Long || k instanceof Boolean || k instanceof Tuple
        || k instanceof BigInteger || k instanceof Double) {
      return k;
    }
    throw fail("a dict key is " + describe(k) + "; only strings, numbers and tuples are allowed");
  }

  @SuppressWarnings("unchecked")
  private List<Object> list(Object o) {
    if (o instanceof List<?> l) {
      return (List<Object>) l;
    }
    throw fail("APPEND to " + describe(o) + ", which is not a list");
  }

  @SuppressWarnings("unchecked")
  private Map<Object, Object> map(Object o) {
    if (o instanceof Map<?, ?> m) {
      return (Map<Object, Object>) m;
    }
    throw fail("SETITEM on " + describe(o) + ", which is not a dict");
  }

  private List<Object> tuple(Object o) {
    if (o instanceof Tuple t) {
      return t.items();
    }
    throw fail("expected a tuple, found " + describe(o));
  }

  @SuppressWarnings("unchecked")
  private List<Object> listFrom(Object o) {
    if (o instanceof Tuple t) {
      return t.items();
    }
    if (o instanceof List<?> l) {
      return (List<Object>) l;
    }
    throw fail("expected a list or tuple, found " + describe(o));
  }

  private String string(Object o) {
    if (o instanceof String s) {
      return s;
    }
    throw fail("expected a string, found " + describe(o));
  }

  private long number(Object o) {
    if (o instanceof Long l) {
      return l;
    }
    throw fail("expected an integer, found " + describe(o));
  }

  private long[] longs(Object o) {
    List<Object> items = listFrom(o);
    long[] out = new long[items.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = number(items.get(i));
    }
    return out;
  }

  private static String describe(Object o) {
    if (o == null) {
      return "None";
    }
    if (o instanceof Global g) {
      return g.qualified();
    }
    String s = String.valueOf(o);
    return o.getClass().getSimpleName() + " " + (s.length() > 60 ? s.substring(0, 60) + "..." : s);
  }
}
