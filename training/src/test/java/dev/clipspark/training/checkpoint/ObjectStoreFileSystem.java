package dev.clipspark.training.checkpoint;

import java.io.IOException;
import java.net.URI;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * A test stand-in for an object store: local files under the made-up scheme {@code objstore:} that count
 * every {@code rename}, can forbid it, and can fail the Nth file creation, optionally "crashing" (every later
 * call fails too, so the writer cannot clean up). {@link #configure} registers it; the state is static because
 * the code under test creates its own instances, so tests using it must not run in parallel.
 */
public class ObjectStoreFileSystem extends RawLocalFileSystem {

  /** The scheme. */
  static final String SCHEME = "objstore";

  public static final AtomicInteger RENAMES = new AtomicInteger();
  static final AtomicInteger CREATES = new AtomicInteger();
  private static volatile boolean forbidRename;
  private static volatile int failAtCreate;
  private static volatile boolean crashOnFailure;
  private static volatile boolean crashed;

  /** A configuration with {@code objstore:} registered (uncached), and every counter and fault reset. */
  public static Configuration configure() {
    reset();
    var conf = new Configuration();
    conf.set("fs." + SCHEME + ".impl", ObjectStoreFileSystem.class.getName());
    conf.setBoolean("fs." + SCHEME + ".impl.disable.cache", true);
    return conf;
  }

  /** Resets the counters and faults. */
  static void reset() {
    RENAMES.set(0);
    CREATES.set(0);
    forbidRename = false;
    failAtCreate = 0;
    crashOnFailure = false;
    crashed = false;
  }

  /** Makes every rename throw. */
  public static void forbidRename() {
    forbidRename = true;
  }

  /** Makes the {@code n}th create from now (1-based) throw; with {@code crash}, every call after it throws too. */
  static void failAtCreate(int n, boolean crash) {
    CREATES.set(0);
    failAtCreate = n;
    crashOnFailure = crash;
  }

  /** An {@code objstore:} URI of a local path. */
  public static String uri(java.nio.file.Path local) {
    return SCHEME + ":" + local.toAbsolutePath().toUri().getPath().replaceAll("/$", "");
  }

  @Override
  public URI getUri() {
    return URI.create(SCHEME + ":///");
  }

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  public void initialize(URI uri, Configuration conf) throws IOException {
    super.initialize(uri, conf);
    setWorkingDirectory(new Path(getUri().toString(), System.getProperty("user.dir")));
  }

  @Override
  public boolean rename(Path src, Path dst) throws IOException {
    alive();
    RENAMES.incrementAndGet();
    if (forbidRename) {
      throw new IOException("rename is forbidden on " + SCHEME + ": (" + src + " to " + dst + ")");
    }
    return super.rename(src, dst);
  }

  @Override
  public FSDataOutputStream create(Path f, boolean overwrite, int bufferSize, short replication, long blockSize,
      Progressable progress) throws IOException {
    created(f);
    return super.create(f, overwrite, bufferSize, replication, blockSize, progress);
  }

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize,
      short replication, long blockSize, Progressable progress) throws IOException {
    created(f);
    return super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
  }

  @Override
  public boolean delete(Path p, boolean recursive) throws IOException {
    alive();
    return super.delete(p, recursive);
  }

  @Override
  public boolean mkdirs(Path f) throws IOException {
    alive();
    return super.mkdirs(f);
  }

  private void created(Path f) throws IOException {
    alive();
    if (CREATES.incrementAndGet() == failAtCreate) {
      crashed = crashOnFailure;
      throw new IOException("injected failure creating " + f);
    }
  }

  private static void alive() throws IOException {
    if (crashed) {
      throw new IOException("the process has crashed");
    }
  }
}
