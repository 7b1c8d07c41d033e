package dev.clipspark.dataset.image;

import com.twelvemonkeys.imageio.plugins.webp.WebPImageReaderSpi;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;

/**
 * Finds the ImageIO decoder for a format. WebP comes from TwelveMonkeys, found through ImageIO's registry
 * and, should the registry have been filled by a class loader that cannot see it (as can happen in a Spark
 * executor), instantiated directly.
 */
final class Decoders {

  private Decoders() {}

  /** A new reader for the format (one of {@link Formats}' names), or null when none is installed. */
  static ImageReader create(String format) {
    Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(format);
    if (it.hasNext()) {
      return it.next();
    }
    if (format.equals(Formats.WEBP)) {
      return new WebPImageReaderSpi().createReaderInstance(null);
    }
    return null;
  }
}
