package dev.loyaltyledger.peer.kstreams;

import com.google.protobuf.InvalidProtocolBufferException;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import loyalty.v1.Events.Event;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * One output record per input record: a purchase of a loaded program adds its
 * earn to the balance of (program_id, member_id) in the RocksDB store and
 * emits "member_id balance" keyed by member_id; anything else (other kinds,
 * other programs, purchases the engine would reject, undecodable values,
 * tombstones) emits "-" under the input key. The output timestamp is the
 * input record's.
 */
final class EarnProcessor implements Processor<byte[], byte[], byte[], String> {
  static final String STORE = "balances";
  static final String SKIPPED = "-";

  static final LongAdder records = new LongAdder();
  static final LongAdder applied = new LongAdder();
  static final LongAdder undecodable = new LongAdder();

  private final Map<String, Earn> programs;
  private ProcessorContext<byte[], String> context;
  private KeyValueStore<String, Long> balances;

  EarnProcessor(Map<String, Earn> programs) {
    this.programs = programs;
  }

  @Override
  public void init(ProcessorContext<byte[], String> context) {
    this.context = context;
    this.balances = context.getStateStore(STORE);
  }

  @Override
  public void process(Record<byte[], byte[]> in) {
    records.increment();
    byte[] key = in.key();
    String value = SKIPPED;
    Event e = null;
    if (in.value() != null) {
      try {
        e = Event.parseFrom(in.value());
      } catch (InvalidProtocolBufferException ex) {
        undecodable.increment();
      }
    } else {
      undecodable.increment();
    }
    if (e != null && e.getBodyCase() == Event.BodyCase.PURCHASE) {
      Earn earn = programs.get(e.getProgramId());
      long points = earn == null ? -1 : earn.purchasePoints(e);
      if (points >= 0) {
        // '\0' cannot occur in a valid id (no control characters).
        String storeKey = e.getProgramId() + '\0' + e.getMemberId();
        Long old = balances.get(storeKey);
        long balance = old == null ? points : saturatedAdd(old, points);
        balances.put(storeKey, balance);
        key = e.getMemberIdBytes().toByteArray();
        value = e.getMemberId() + ' ' + balance;
        applied.increment();
      }
    }
    // A new record without the input's headers, at the input's timestamp.
    context.forward(new Record<>(key, value, in.timestamp()));
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
  }

  static String stats() {
    long n = records.sum();
    long a = applied.sum();
    return n + " records: " + a + " purchases applied, " + (n - a) + " emitted \"-\" ("
        + undecodable.sum() + " undecodable)";
  }
}
