// Content stand-in for what a completedCheckpoint file holds (flinkbr test peer). Flink writes a
// whole CompletedCheckpoint there; this class keeps Flink's class name but NOT its fields or
// serialVersionUID: `check` only needs to read it back and tie it to its job and checkpoint id.
package org.apache.flink.runtime.checkpoint;

import java.io.Serializable;

public class CompletedCheckpoint implements Serializable {
  private static final long serialVersionUID = 0x666c696e6b6272L;  // the peer's own, not Flink's

  public final String job;
  public final long checkpointID;
  public final long timestamp;
  public final byte[] payload;

  public CompletedCheckpoint(String job, long checkpointID, long timestamp, byte[] payload) {
    this.job = job;
    this.checkpointID = checkpointID;
    this.timestamp = timestamp;
    this.payload = payload;
  }
}
