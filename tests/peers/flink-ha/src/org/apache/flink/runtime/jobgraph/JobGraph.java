// Content stand-in for what a submittedJobGraph / submittedExecutionPlan file holds (flinkbr test
// peer). Flink writes a whole JobGraph there; this class keeps Flink's class name but NOT its
// fields or serialVersionUID: the file only has to be a Java-serialized object that `check` can
// read back and tie to its job. The payload gives the file a realistic size.
package org.apache.flink.runtime.jobgraph;

import java.io.Serializable;

public class JobGraph implements Serializable {
  private static final long serialVersionUID = 0x666c696e6b6272L;  // the peer's own, not Flink's

  public final String jobID;
  public final String jobName;
  public final byte[] payload;

  public JobGraph(String jobID, String jobName, byte[] payload) {
    this.jobID = jobID;
    this.jobName = jobName;
    this.payload = payload;
  }
}
