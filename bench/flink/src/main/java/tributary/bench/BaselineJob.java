package tributary.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.CheckpointingMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The Flink baseline of bench/run.ts: the same work as Tributary's pipelines.
 *
 * <ul>
 *   <li>{@code --mode transactions}: Kafka JSON transactions, decoded with Jackson, validated like
 *       Tributary's {@code Transaction} schema (non-empty ids, integral event time >= 0, finite
 *       amount > 0, three-letter currency, non-empty category), currency upper-cased, encoded as
 *       plain Avro binary (GenericDatumWriter, the feature group's subject schema), produced with the
 *       same key (transaction_id) and headers as Tributary's feature-group writer.</li>
 *   <li>{@code --mode cards}: card transactions, per-partition watermarks with 60 s bounded
 *       out-of-orderness, keyBy cc_num, sliding event-time windows 10 min / 1 min, count + mean +
 *       sample std-dev (Welford), one JSON row per key-window.</li>
 * </ul>
 *
 * Kafka source bounded earliest -> latest (or unbounded with {@code --bounded false}, for the
 * latency runs), Kafka sink AT_LEAST_ONCE with acks=all. Prints one line
 * {@code BENCH_RESULT {json}} per job run (the warm-up run too, tagged).
 */
public final class BaselineJob {
  /** Set by the first record the source deserializes (the MiniCluster runs in this JVM). */
  static final AtomicLong FIRST_RECORD_MS = new AtomicLong();
  static final AtomicLong FIRST_RECORD_CPU_NS = new AtomicLong();
  static final AtomicLong DECODED = new AtomicLong();
  static final AtomicLong REJECTED = new AtomicLong();

  static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  static void markFirst() {
    if (FIRST_RECORD_MS.get() == 0 && FIRST_RECORD_MS.compareAndSet(0, System.currentTimeMillis())) {
      FIRST_RECORD_CPU_NS.set(cpuNanos());
    }
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = parseArgs(argv);
    String warmIn = args.get("warmup-in");
    if (warmIn != null && !warmIn.isEmpty()) {
      run(args, warmIn, args.get("warmup-out"), "warmup");
    }
    run(args, args.get("in"), args.get("out"), "measured");
    System.exit(0);
  }

  static void run(Map<String, String> args, String in, String out, String tag) throws Exception {
    String mode = args.getOrDefault("mode", "transactions");
    String bootstrap = args.getOrDefault("bootstrap", "127.0.0.1:19092");
    boolean bounded = Boolean.parseBoolean(args.getOrDefault("bounded", "true"));
    int parallelism = Integer.parseInt(args.getOrDefault("parallelism", "2"));
    long checkpointMs = Long.parseLong(args.getOrDefault("checkpoint-ms", "1000"));
    String group = args.getOrDefault("group", "flink-baseline") + "-" + tag;

    FIRST_RECORD_MS.set(0);
    DECODED.set(0);
    REJECTED.set(0);
    long t0 = System.currentTimeMillis();
    long cpu0 = cpuNanos();

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(parallelism);
    // Chained operators hand records over without a defensive deep copy (standard tuning; our
    // functions never keep or mutate their inputs).
    env.getConfig().enableObjectReuse();
    if (checkpointMs > 0) env.enableCheckpointing(checkpointMs, CheckpointingMode.AT_LEAST_ONCE);

    Properties producer = new Properties();
    producer.setProperty("acks", "all");

    if (mode.equals("transactions")) {
      KafkaSource<Txn> source = source(bootstrap, in, group, bounded, new TxnDeserializer());
      KafkaSink<Txn> sink = KafkaSink.<Txn>builder()
          .setBootstrapServers(bootstrap)
          .setKafkaProducerConfig(producer)
          .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
          .setRecordSerializer(new TxnAvroSerializer(out, args.get("schema"), headerMap(args.get("headers"))))
          .build();
      env.fromSource(source, WatermarkStrategy.noWatermarks(), "transactions-in")
          .map(BaselineJob::normalise)
          .name("normalise")
          .sinkTo(sink)
          .name("feature-group-out");
    } else if (mode.equals("cards")) {
      KafkaSource<CardTxn> source = source(bootstrap, in, group, bounded, new CardDeserializer());
      WatermarkStrategy<CardTxn> watermarks = WatermarkStrategy.<CardTxn>forBoundedOutOfOrderness(Duration.ofSeconds(60))
          .withTimestampAssigner((c, ts) -> c.datetime)
          .withIdleness(Duration.ofMinutes(5));
      KafkaSink<String> sink = KafkaSink.<String>builder()
          .setBootstrapServers(bootstrap)
          .setKafkaProducerConfig(producer)
          .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
          .setRecordSerializer(new RowSerializer(out))
          .build();
      env.fromSource(source, watermarks, "cards-in")
          .keyBy(c -> c.ccNum)
          .window(SlidingEventTimeWindows.of(Duration.ofMinutes(10), Duration.ofMinutes(1)))
          .aggregate(new Moments(), new ToRow())
          .name("card-aggregates")
          .sinkTo(sink)
          .name("aggregates-out");
    } else {
      throw new IllegalArgumentException("unknown --mode " + mode);
    }

    JobExecutionResult result = env.execute("tributary-bench-" + mode + "-" + tag);
    long tEnd = System.currentTimeMillis();
    long cpuEnd = cpuNanos();
    long first = FIRST_RECORD_MS.get();
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("tag", tag);
    report.put("mode", mode);
    report.put("parallelism", parallelism);
    report.put("checkpointMs", checkpointMs);
    report.put("decoded", DECODED.get());
    report.put("rejected", REJECTED.get());
    report.put("jobWallMs", tEnd - t0);
    report.put("netRuntimeMs", result.getNetRuntime());
    report.put("firstRecordToEndMs", first == 0 ? null : tEnd - first);
    report.put("cpuJobSec", (cpuEnd - cpu0) / 1e9);
    report.put("cpuFirstRecordToEndSec", first == 0 ? null : (cpuEnd - FIRST_RECORD_CPU_NS.get()) / 1e9);
    report.put("firstAt", first == 0 ? null : first);
    report.put("endAt", tEnd);
    report.put("vmHwmKb", vmHwmKb());
    System.out.println("BENCH_RESULT " + new ObjectMapper().writeValueAsString(report));
    System.out.flush();
  }

  static <T> KafkaSource<T> source(String bootstrap, String topic, String group, boolean bounded,
      KafkaRecordDeserializationSchema<T> deserializer) {
    var builder = KafkaSource.<T>builder()
        .setBootstrapServers(bootstrap)
        .setTopics(topic)
        .setGroupId(group)
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setDeserializer(deserializer)
        // Same fetch size per partition as Tributary's default KAFKA_MAX_BYTES_PER_PARTITION.
        .setProperty("max.partition.fetch.bytes", String.valueOf(4 * 1024 * 1024))
        .setProperty("partition.discovery.interval.ms", "-1");
    if (bounded) builder.setBounded(OffsetsInitializer.latest());
    return builder.build();
  }

  // ----------------------------------------------------------------------------------------------
  // transactions

  /** A decoded, validated transaction (a Flink POJO). */
  public static final class Txn {
    public String transactionId;
    public long eventTime;
    public String userId;
    public double amount;
    public String currency;
    public String category;

    public Txn() {}
  }

  static final Pattern CURRENCY = Pattern.compile("^[A-Za-z]{3}$");

  static Txn normalise(Txn t) {
    t.currency = t.currency.toUpperCase(java.util.Locale.ROOT);
    return t;
  }

  static String nonEmptyText(JsonNode n) {
    return n != null && n.isTextual() && !n.textValue().isEmpty() ? n.textValue() : null;
  }

  /** Jackson tree decode + the checks of Tributary's Transaction schema; a malformed record is dropped (counted). */
  static final class TxnDeserializer implements KafkaRecordDeserializationSchema<Txn> {
    private transient ObjectMapper mapper;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Txn> out) throws IOException {
      markFirst();
      if (mapper == null) mapper = new ObjectMapper();
      Txn t = decode(record.value());
      if (t == null) {
        REJECTED.incrementAndGet();
        return;
      }
      DECODED.incrementAndGet();
      out.collect(t);
    }

    Txn decode(byte[] value) {
      if (value == null) return null;
      JsonNode j;
      try {
        j = mapper.readTree(value);
      } catch (IOException e) {
        return null;
      }
      if (j == null || !j.isObject()) return null;
      Txn t = new Txn();
      t.transactionId = nonEmptyText(j.get("transaction_id"));
      t.userId = nonEmptyText(j.get("user_id"));
      t.category = nonEmptyText(j.get("category"));
      JsonNode et = j.get("event_time");
      JsonNode amount = j.get("amount");
      JsonNode currency = j.get("currency");
      if (t.transactionId == null || t.userId == null || t.category == null) return null;
      if (et == null || !et.isIntegralNumber() || !et.canConvertToLong() || et.longValue() < 0) return null;
      if (amount == null || !amount.isNumber()) return null;
      double a = amount.doubleValue();
      if (!Double.isFinite(a) || a <= 0) return null;
      if (currency == null || !currency.isTextual() || !CURRENCY.matcher(currency.textValue()).matches()) return null;
      t.eventTime = et.longValue();
      t.amount = a;
      t.currency = currency.textValue();
      return t;
    }

    @Override
    public TypeInformation<Txn> getProducedType() {
      return TypeInformation.of(Txn.class);
    }
  }

  /** Avro binary (no magic byte) of the feature group's subject schema, key = transaction_id, Hopsworks headers. */
  static final class TxnAvroSerializer implements KafkaRecordSerializationSchema<Txn> {
    private final String topic;
    private final String schemaJson;
    private final Map<String, String> headers;
    private transient Schema schema;
    private transient GenericDatumWriter<GenericRecord> writer;
    private transient ByteArrayOutputStream buffer;
    private transient BinaryEncoder encoder;
    private transient GenericData.Record row;

    TxnAvroSerializer(String topic, String schemaJson, Map<String, String> headers) {
      this.topic = topic;
      this.schemaJson = schemaJson;
      this.headers = headers;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Txn t, KafkaSinkContext context, Long timestamp) {
      if (schema == null) {
        schema = new Schema.Parser().parse(schemaJson);
        writer = new GenericDatumWriter<>(schema);
        buffer = new ByteArrayOutputStream(128);
        row = new GenericData.Record(schema);
      }
      row.put("transaction_id", t.transactionId);
      row.put("event_time", t.eventTime);
      row.put("user_id", t.userId);
      row.put("amount", t.amount);
      row.put("currency", t.currency);
      row.put("category", t.category);
      buffer.reset();
      encoder = EncoderFactory.get().binaryEncoder(buffer, encoder);
      try {
        writer.write(row, encoder);
        encoder.flush();
      } catch (IOException e) {
        throw new IllegalStateException("Avro encode failed", e);
      }
      RecordHeaders h = new RecordHeaders();
      for (Map.Entry<String, String> e : headers.entrySet()) h.add(e.getKey(), e.getValue().getBytes(StandardCharsets.UTF_8));
      return new ProducerRecord<>(topic, null, null, t.transactionId.getBytes(StandardCharsets.UTF_8), buffer.toByteArray(), h);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // card aggregates

  /** A decoded card transaction (a Flink POJO). */
  public static final class CardTxn {
    public String tid;
    public long datetime;
    public long ccNum;
    public double amount;

    public CardTxn() {}
  }

  static final long MAX_SAFE = 9007199254740991L;

  /** Jackson decode + the checks of Tributary's CardTransaction schema. */
  static final class CardDeserializer implements KafkaRecordDeserializationSchema<CardTxn> {
    private transient ObjectMapper mapper;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<CardTxn> out) {
      markFirst();
      if (mapper == null) mapper = new ObjectMapper();
      CardTxn c = decode(record.value());
      if (c == null) {
        REJECTED.incrementAndGet();
        return;
      }
      DECODED.incrementAndGet();
      out.collect(c);
    }

    CardTxn decode(byte[] value) {
      if (value == null) return null;
      JsonNode j;
      try {
        j = mapper.readTree(value);
      } catch (IOException e) {
        return null;
      }
      if (j == null || !j.isObject()) return null;
      CardTxn c = new CardTxn();
      c.tid = nonEmptyText(j.get("tid"));
      JsonNode dt = j.get("datetime");
      JsonNode cc = j.get("cc_num");
      JsonNode amount = j.get("amount");
      if (c.tid == null) return null;
      if (dt == null || !dt.isIntegralNumber() || !dt.canConvertToLong() || dt.longValue() < 0) return null;
      if (cc == null || !cc.isIntegralNumber() || !cc.canConvertToLong() || cc.longValue() < 0 || cc.longValue() > MAX_SAFE) return null;
      if (amount == null || !amount.isNumber() || !Double.isFinite(amount.doubleValue())) return null;
      c.datetime = dt.longValue();
      c.ccNum = cc.longValue();
      c.amount = amount.doubleValue();
      return c;
    }

    @Override
    public TypeInformation<CardTxn> getProducedType() {
      return TypeInformation.of(CardTxn.class);
    }
  }

  /** Welford accumulator: count, mean, sum of squared deviations. */
  public static final class Acc {
    public long n;
    public double mean;
    public double m2;

    public Acc() {}
  }

  static final class Moments implements AggregateFunction<CardTxn, Acc, Acc> {
    @Override
    public Acc createAccumulator() {
      return new Acc();
    }

    @Override
    public Acc add(CardTxn c, Acc a) {
      a.n++;
      double d = c.amount - a.mean;
      a.mean += d / a.n;
      a.m2 += d * (c.amount - a.mean);
      return a;
    }

    @Override
    public Acc getResult(Acc a) {
      return a;
    }

    @Override
    public Acc merge(Acc x, Acc y) {
      if (x.n == 0) return y;
      if (y.n == 0) return x;
      Acc r = new Acc();
      r.n = x.n + y.n;
      double d = y.mean - x.mean;
      r.mean = x.mean + d * y.n / r.n;
      r.m2 = x.m2 + y.m2 + d * d * x.n * y.n / r.n;
      return r;
    }
  }

  /** Adds key and window to the aggregate: one JSON row like Tributary's engine variant writes. */
  static final class ToRow extends ProcessWindowFunction<Acc, String, Long, TimeWindow> {
    @Override
    public void process(Long key, Context context, Iterable<Acc> elements, Collector<String> out) {
      Acc a = elements.iterator().next();
      StringBuilder s = new StringBuilder(128);
      s.append("{\"cc_num\":").append(key.longValue())
          .append(",\"window_start\":").append(context.window().getStart())
          .append(",\"num_trans_per_10m\":").append(a.n)
          .append(",\"avg_amt_per_10m\":").append(a.n == 0 ? "null" : jsonNumber(a.mean))
          .append(",\"stdev_amt_per_10m\":").append(a.n < 2 ? "null" : jsonNumber(Math.sqrt(a.m2 / (a.n - 1))))
          .append('}');
      out.collect(s.toString());
    }
  }

  static String jsonNumber(double d) {
    return Double.isFinite(d) ? Double.toString(d) : "null";
  }

  /** JSON row out, keyed by cc_num (the "cc_num" field's digits). */
  static final class RowSerializer implements KafkaRecordSerializationSchema<String> {
    private final String topic;

    RowSerializer(String topic) {
      this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(String row, KafkaSinkContext context, Long timestamp) {
      int start = row.indexOf(':') + 1;
      int end = row.indexOf(',', start);
      return new ProducerRecord<>(topic, null, null, row.substring(start, end).getBytes(StandardCharsets.UTF_8),
          row.getBytes(StandardCharsets.UTF_8));
    }
  }

  // ----------------------------------------------------------------------------------------------
  // helpers

  static Map<String, String> parseArgs(String[] argv) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      if (!argv[i].startsWith("--")) throw new IllegalArgumentException("expected --name value, got " + argv[i]);
      m.put(argv[i].substring(2), argv[i + 1]);
    }
    return m;
  }

  /** "a=1,b=2" -> ordered map. */
  static Map<String, String> headerMap(String spec) {
    Map<String, String> m = new LinkedHashMap<>();
    if (spec == null || spec.isEmpty()) return m;
    for (String kv : spec.split(",")) {
      int eq = kv.indexOf('=');
      m.put(kv.substring(0, eq), kv.substring(eq + 1));
    }
    return m;
  }

  static Long vmHwmKb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    } catch (IOException e) {
      // not Linux
    }
    return null;
  }

  private BaselineJob() {}
}
