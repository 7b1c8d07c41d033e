package dev.clipspark.dataset.queries;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes a small WordNet 3.0 database in the real file format: license header, then synset lines. */
final class WordNetFixture {

  private WordNetFixture() {}

  /** The license header as the real files have it: numbered lines starting with two spaces. */
  static final List<String> HEADER = List.of(
      "  1 This software and database is being provided to you, the LICENSEE, by  ",
      "  2 Princeton University under the following license.  By obtaining, using  ",
      "  3 and/or copying this software and database, you agree that you have  ",
      "  4 read, understood, and will comply with these terms and conditions.:  ",
      "  5   ",
      "  6 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  ",
      "  7   ");

  static final List<String> NOUN = List.of(
      "02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 001 @ 02083346 n 0000 | a member of the genus Canis  ",
      "07697537 13 n 03 hotdog 0 hot_dog 0 red_hot 0 001 @ 07697100 n 0000 | a frankfurter served hot on a bun  ",
      "10183757 18 n 02 hotdog 0 hot_dog 0 001 @ 10182913 n 0000 | someone who performs dangerous stunts  ",
      "14501726 26 n 02 Parkinson's_disease 0 parkinsonism 0 000 | a degenerative disorder of the nervous system  ");
  static final List<String> VERB = List.of(
      "02005948 38 v 02 chase 0 dog 2 001 @ 01835496 v 0000 01 + 08 00 | go after with the intent to catch  ");
  static final List<String> ADJ = List.of(
      "00014358 00 s 02 abounding 0 galore(ip) 0 001 & 00013887 a 0000 | existing in abundance  ",
      "01499999 00 a 01 elect(p) 0 000 | chosen for an office but not yet installed  ");
  /** Twelve words: the word count is hexadecimal, 0c. */
  static final List<String> ADV = List.of(
      "00004722 02 r 0c a 0 b 0 c 0 d 0 e 0 f 0 g 0 h 0 i 0 j 0 k 0 l 0 000 | a synset of twelve words  ");

  /** Writes data.noun, data.verb, data.adj and data.adv into {@code dir} and returns it. */
  static Path write(Path dir) throws IOException {
    Files.createDirectories(dir);
    write(dir.resolve("data.noun"), NOUN);
    write(dir.resolve("data.verb"), VERB);
    write(dir.resolve("data.adj"), ADJ);
    write(dir.resolve("data.adv"), ADV);
    return dir;
  }

  static void write(Path file, List<String> synsets) throws IOException {
    var lines = new ArrayList<>(HEADER);
    lines.addAll(synsets);
    Files.write(file, lines, StandardCharsets.UTF_8);
  }
}
