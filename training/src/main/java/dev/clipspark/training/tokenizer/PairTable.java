package dev.clipspark.training.tokenizer;

import java.util.Arrays;

/** An open-addressing hash map from a pair of non-negative ints to a non-negative int; absent is -1. */
final class PairTable {

  private long[] keys;
  private int[] values;
  private int size;
  private int mask;

  PairTable(int expected) {
    int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
    keys = new long[capacity];
    values = new int[capacity];
    Arrays.fill(keys, -1L);
    mask = capacity - 1;
  }

  static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  private static int slot(long key, int mask) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 29)) & mask;
  }

  /** The value of {@code (left, right)}, or -1. */
  int get(int left, int right) {
    long k = key(left, right);
    int i = slot(k, mask);
    while (true) {
      long found = keys[i];
      if (found == k) {
        return values[i];
      }
      if (found == -1L) {
        return -1;
      }
      i = (i + 1) & mask;
    }
  }

  /** Sets the value of {@code (left, right)}, replacing any earlier one. */
  void put(int left, int right, int value) {
    if ((size + 1) * 2 > keys.length) {
      grow();
    }
    long k = key(left, right);
    int i = slot(k, mask);
    while (keys[i] != -1L && keys[i] != k) {
      i = (i + 1) & mask;
    }
    if (keys[i] == -1L) {
      size++;
    }
    keys[i] = k;
    values[i] = value;
  }

  private void grow() {
    long[] oldKeys = keys;
    int[] oldValues = values;
    keys = new long[oldKeys.length * 2];
    values = new int[oldKeys.length * 2];
    Arrays.fill(keys, -1L);
    mask = keys.length - 1;
    size = 0;
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] != -1L) {
        put((int) (oldKeys[i] >>> 32), (int) oldKeys[i], oldValues[i]);
      }
    }
  }
}
