package dev.clipspark.training.data;

import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.Type;

/**
 * Reads the {@code key}, {@code caption} and {@code image} columns of one dataset shard with parquet-hadoop
 * (no Spark), through Hadoop's file systems, so {@code file:}, {@code hdfs:} and {@code s3a:} paths all work.
 * The other columns are not read: the projection is taken from the file's own schema.
 */
public final class ShardReader implements Closeable {

  /** The columns read. */
  static final List<String> COLUMNS = List.of("key", "caption", "image");

  /** One row: what a sample needs. */
  public record Row(String key, String caption, byte[] image) {}

  private final Path path;
  private final long expectedRows;
  private final ParquetReader<Group> reader;
  private long read;

  /**
   * Opens {@code path}, which the manifest says holds {@code expectedRows} rows.
   *
   * @throws IllegalArgumentException if it cannot be opened or lacks a column
   */
  public ShardReader(Path path, long expectedRows, Configuration conf) {
    this.path = path;
    this.expectedRows = expectedRows;
    try {
      MessageType schema;
      try (var footer = ParquetFileReader.open(HadoopInputFile.fromPath(path, conf))) {
        schema = footer.getFooter().getFileMetaData().getSchema();
      }
      var fields = new ArrayList<Type>();
      for (String column : COLUMNS) {
        if (!schema.containsField(column)) {
          throw new IllegalArgumentException("Cannot read shard " + path + ": it has no column '" + column
              + "' (columns: " + schema.getFields().stream().map(Type::getName).toList() + ")");
        }
        fields.add(schema.getType(column));
      }
      Configuration projected = new Configuration(conf);
      projected.set(ReadSupport.PARQUET_READ_SCHEMA, new MessageType(schema.getName(), fields).toString());
      this.reader = ParquetReader.builder(new GroupReadSupport(), path).withConf(projected).build();
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot read shard " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * The next row; after the manifest's count, checks the file holds no more.
   *
   * @throws IllegalStateException if the file holds fewer or more rows than the manifest lists, or a read fails
   */
  public Row next() {
    try {
      if (read == expectedRows) {
        throw new IllegalStateException("Cannot read row " + read + " of shard " + path + ": the manifest lists "
            + expectedRows + " rows");
      }
      Group g = reader.read();
      if (g == null) {
        throw new IllegalStateException("Cannot read shard " + path + ": it ends after " + read
            + " rows but the manifest lists " + expectedRows + " (the dataset changed after its build?)");
      }
      read++;
      if (read == expectedRows && reader.read() != null) {
        throw new IllegalStateException("Cannot read shard " + path + ": it holds more than the " + expectedRows
            + " rows the manifest lists (the dataset changed after its build?)");
      }
      return new Row(g.getString("key", 0), g.getString("caption", 0), g.getBinary("image", 0).getBytes());
    } catch (IOException e) {
      throw new IllegalStateException("Cannot read row " + read + " of shard " + path + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() throws IOException {
    reader.close();
  }
}
