// Test stand-in for Flink's interface of the same name: only its name matters to the bytes (it
// is the declared type of RetrievableStreamStateHandle's field).
package org.apache.flink.runtime.state;

public interface StreamStateHandle extends java.io.Serializable {}
