package dev.clipspark.dataset.source;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;

/**
 * A Hadoop {@link Configuration} that can travel to Spark executors, in a task closure or a broadcast.
 *
 * <p>{@code Configuration} is not {@code Serializable}; this wrapper holds the bytes written by
 * {@link Configuration#write} and rebuilds the configuration with {@link Configuration#readFields} on
 * first use in each JVM. Because its only serialised state is a {@code byte[]}, it works with Java
 * serialisation and with Kryo alike, so it may be broadcast whatever {@code spark.serializer} is.
 * The rebuilt configuration is shared by the tasks of an executor: treat it as read-only.
 */
public final class HadoopConf implements Serializable {

  private static final long serialVersionUID = 1L;

  private final byte[] bytes;
  private transient volatile Configuration conf;

  private HadoopConf(byte[] bytes, Configuration conf) {
    this.bytes = bytes;
    this.conf = conf;
  }

  /** Captures {@code conf} as it is now; later changes to {@code conf} are not seen. */
  public static HadoopConf of(Configuration conf) {
    Objects.requireNonNull(conf, "conf");
    var out = new ByteArrayOutputStream();
    try (var data = new DataOutputStream(out)) {
      conf.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot serialise the Hadoop configuration: " + e.getMessage(), e);
    }
    byte[] bytes = out.toByteArray();
    return new HadoopConf(bytes, read(bytes));
  }

  /**
   * The Hadoop configuration Spark SQL uses for {@code spark}: the context's configuration plus
   * {@code spark.hadoop.*} and Hadoop keys set on the session.
   */
  public static HadoopConf from(SparkSession spark) {
    return of(spark.sessionState().newHadoopConf());
  }

  /** The configuration; built once per JVM after deserialisation. Do not modify it. */
  public Configuration get() {
    Configuration c = conf;
    if (c == null) {
      synchronized (this) {
        c = conf;
        if (c == null) {
          c = read(bytes);
          conf = c;
        }
      }
    }
    return c;
  }

  /** Size of the serialised form in bytes. */
  public int serializedSize() {
    return bytes.length;
  }

  private static Configuration read(byte[] bytes) {
    var c = new Configuration(false);
    try (var in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      c.readFields(in);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot deserialise the Hadoop configuration: " + e.getMessage(), e);
    }
    return c;
  }
}
