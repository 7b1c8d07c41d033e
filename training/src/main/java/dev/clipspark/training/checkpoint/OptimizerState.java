package dev.clipspark.training.checkpoint;

import dev.clipspark.training.optim.AdamW;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * AdamW's state: its step count and the first and second moments of every parameter, by parameter name.
 * Restore with {@code adamW.restore(s.stepCount(), s.firstMoments(), s.secondMoments())}.
 *
 * @param stepCount     steps the optimiser has taken (its bias correction)
 * @param firstMoments  running means of the gradients, in parameter order
 * @param secondMoments running means of the squared gradients, in parameter order
 */
public record OptimizerState(long stepCount, Map<String, INDArray> firstMoments, Map<String, INDArray> secondMoments) {

  /** Validates and copies the maps (not the arrays). */
  public OptimizerState {
    if (stepCount < 0) {
      throw new IllegalArgumentException("Cannot record optimizer step count " + stepCount + ": must be at least 0");
    }
    if (!firstMoments.keySet().equals(secondMoments.keySet())) {
      throw new IllegalArgumentException("Cannot record optimizer state: the first moments are of "
          + firstMoments.size() + " parameters and the second moments of " + secondMoments.size()
          + " different ones");
    }
    firstMoments = Collections.unmodifiableMap(new LinkedHashMap<>(firstMoments));
    secondMoments = Collections.unmodifiableMap(new LinkedHashMap<>(secondMoments));
  }

  /** The live state of {@code adamW} (its moment arrays, not copies), for saving. */
  public static OptimizerState of(AdamW adamW) {
    var m = new LinkedHashMap<String, INDArray>();
    var v = new LinkedHashMap<String, INDArray>();
    for (String name : adamW.names()) {
      m.put(name, adamW.firstMoment(name));
      v.put(name, adamW.secondMoment(name));
    }
    return new OptimizerState(adamW.stepCount(), m, v);
  }

  /** Copies this state into {@code adamW}; see {@link AdamW#restore}. */
  public void restoreInto(AdamW adamW) {
    adamW.restore(stepCount, firstMoments, secondMoments);
  }
}
