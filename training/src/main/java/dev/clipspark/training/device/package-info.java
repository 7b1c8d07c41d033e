/**
 * Where ClipSpark meets the device ND4J computes on: {@link dev.clipspark.training.device.HostMemory}, the one
 * place that reads and writes array memory directly (synchronised with the GPU copy on ND4J's CUDA backend, free
 * on the CPU backend), and {@link dev.clipspark.training.device.TaskGpus}, which puts a Spark task on the GPU Spark
 * assigned it. Which backend is on the classpath, and whether the machine's GPUs can run it, is
 * {@link dev.clipspark.training.trainer.Backends}.
 */
package dev.clipspark.training.device;
