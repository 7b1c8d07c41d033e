package dev.clipspark.dataset.image;

import javax.imageio.stream.ImageInputStreamImpl;

/**
 * An {@link javax.imageio.stream.ImageInputStream} reading straight from a byte array: no caching copy (as
 * {@code MemoryCacheImageInputStream} makes) and no temporary file (as {@code ImageIO.createImageInputStream}
 * may create), with cheap seeking in both directions.
 */
final class ByteArrayImageInputStream extends ImageInputStreamImpl {

  private final byte[] data;

  ByteArrayImageInputStream(byte[] data) {
    this.data = data;
  }

  @Override
  public int read() {
    bitOffset = 0;
    if (streamPos >= data.length) {
      return -1;
    }
    return data[(int) streamPos++] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) {
    if (off < 0 || len < 0 || off + len > b.length) {
      throw new IndexOutOfBoundsException("off " + off + ", len " + len + ", array length " + b.length);
    }
    bitOffset = 0;
    if (len == 0) {
      return 0;
    }
    if (streamPos >= data.length) {
      return -1;
    }
    int n = (int) Math.min(len, data.length - streamPos);
    System.arraycopy(data, (int) streamPos, b, off, n);
    streamPos += n;
    return n;
  }

  @Override
  public long length() {
    return data.length;
  }

  @Override
  public boolean isCached() {
    return true;
  }

  @Override
  public boolean isCachedMemory() {
    return true;
  }
}
