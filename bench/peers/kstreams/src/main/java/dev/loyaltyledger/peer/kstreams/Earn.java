package dev.loyaltyledger.peer.kstreams;

import com.google.protobuf.TextFormat;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import loyalty.v1.Events.Event;
import loyalty.v1.Events.LineItem;
import loyalty.v1.Events.Purchase;
import loyalty.v1.ProgramOuterClass.CategoryMultiplier;
import loyalty.v1.ProgramOuterClass.Program;

/**
 * The purchase earn of one program: the engine's base earn with category
 * multipliers (engine/apply/apply.cc ApplyPurchase, SPEC §6), nothing else.
 *
 * <pre>base = floor(Σ_items(amount_i × cat_bp_i) × earn.points / (earn.per_minor × 10000))</pre>
 *
 * No items: one item of the whole amount with category "". Unlisted
 * categories count 10000 bp. The engine computes in 128-bit integers; here
 * long arithmetic with a BigInteger fallback on overflow gives the same floor
 * (every operand is non-negative once the purchase is valid).
 */
final class Earn {
  static final long BP = 10_000;
  static final long AMOUNT_MINOR_MAX = 1_000_000_000_000L; // engine/program/program.h
  static final int LINE_ITEMS_MAX = 1000;                  // engine/apply/validate.h
  static final int MEMBER_ID_BYTES_MAX = 64;              // engine/apply/validate.h
  static final int EVENT_ID_BYTES_MAX = 128;              // engine/apply/validate.h
  static final long TIME_MIN_S = 946_684_800L;            // 2000-01-01T00:00:00Z
  static final long TIME_LIMIT_S = 4_102_444_800L;        // 2100-01-01T00:00:00Z
  static final long MULTIPLIER_BP_MAX = 1_000_000;         // engine/program/program.h
  static final long POINTS_PER_EVENT_MAX = 1_000_000_000_000_000L; // engine/program/program.h

  final String programId;
  final String currency;
  private final long points;
  private final long perMinor;
  private final Map<String, Long> categoryBp = new HashMap<>();

  Earn(Program p) {
    // The ranges of engine/program/program.cc, so that every product below is
    // bounded: weighted <= 1e12 * 1e6 = 1e18 fits in a long.
    if (p.getProgramId().isEmpty()) throw new IllegalArgumentException("program_id is empty");
    if (!p.hasEarn()) throw new IllegalArgumentException("required: earn { points: N per_minor: M }");
    points = p.getEarn().getPoints();
    perMinor = p.getEarn().getPerMinor();
    if (points < 1 || points > 1_000_000) throw new IllegalArgumentException("earn.points not in [1, 1000000]");
    if (perMinor < 1 || perMinor > AMOUNT_MINOR_MAX) throw new IllegalArgumentException("earn.per_minor not in [1, 1e12]");
    programId = p.getProgramId();
    currency = p.getCurrency();
    for (CategoryMultiplier c : p.getCategoryMultipliersList()) {
      if (c.getMultiplierBp() < 0 || c.getMultiplierBp() > MULTIPLIER_BP_MAX) {
        throw new IllegalArgumentException("category_multipliers \"" + c.getCategory() + "\": multiplier_bp not in [0, 1000000]");
      }
      if (categoryBp.put(c.getCategory(), c.getMultiplierBp()) != null) {
        throw new IllegalArgumentException("category_multipliers: \"" + c.getCategory() + "\" listed twice");
      }
    }
    // The base part of the engine's CheckEarnBound: the largest purchase at
    // the largest category multiplier earns at most 1e15 points.
    long maxBp = Math.max(BP, categoryBp.values().stream().mapToLong(Long::longValue).max().orElse(BP));
    BigInteger worst = BigInteger.valueOf(AMOUNT_MINOR_MAX).multiply(BigInteger.valueOf(maxBp))
        .multiply(BigInteger.valueOf(points)).divide(BigInteger.valueOf(perMinor * BP));
    if (worst.compareTo(BigInteger.valueOf(POINTS_PER_EVENT_MAX)) > 0) {
      throw new IllegalArgumentException("earn: a purchase of 1e12 minor units could earn more than 1e15 points");
    }
  }

  long categoryBp(String category) {
    Long bp = categoryBp.get(category);
    return bp == null ? BP : bp;
  }

  /**
   * The points a purchase of this program earns, or -1 for anything else and
   * for a purchase the engine would reject (SPEC §7 and engine/apply/validate.cc:
   * event_id, occurred_at, member_id, order_id, currency, amount, items; not
   * checked here: the characters of ids and the lengths of other strings).
   */
  long purchasePoints(Event e) {
    if (e.getBodyCase() != Event.BodyCase.PURCHASE) return -1;
    int eventIdBytes = e.getEventIdBytes().size();
    if (eventIdBytes < 1 || eventIdBytes > EVENT_ID_BYTES_MAX) return -1;
    if (!e.hasOccurredAt()) return -1;
    long seconds = e.getOccurredAt().getSeconds();
    int nanos = e.getOccurredAt().getNanos();
    if (nanos < 0 || nanos > 999_999_999 || seconds < TIME_MIN_S || seconds >= TIME_LIMIT_S) return -1;
    int memberBytes = e.getMemberIdBytes().size();
    if (memberBytes < 1 || memberBytes > MEMBER_ID_BYTES_MAX) return -1;
    Purchase p = e.getPurchase();
    if (p.getOrderId().isEmpty() || !p.getCurrency().equals(currency)) return -1;
    long amount = p.getAmountMinor();
    if (amount <= 0 || amount > AMOUNT_MINOR_MAX) return -1;
    int n = p.getItemsCount();
    if (n > LINE_ITEMS_MAX) return -1;
    long weighted;
    if (n == 0) {
      weighted = amount * categoryBp("");
    } else {
      long sum = 0;
      weighted = 0;
      for (int i = 0; i < n; i++) {
        LineItem item = p.getItems(i);
        long a = item.getAmountMinor();
        if (item.getQuantity() < 1 || a < 0 || a > AMOUNT_MINOR_MAX) return -1;
        sum += a; // at most 1000 terms of at most 1e12: no overflow
        if (sum > AMOUNT_MINOR_MAX) return -1;
        weighted += a * categoryBp(item.getCategory()); // Σ <= 1e12 * 1e6
      }
      if (sum != amount) return -1;
    }
    // floor(weighted * points / (per_minor * 10000)); den <= 1e16.
    long den = perMinor * BP;
    if (Math.multiplyHigh(weighted, points) == 0 && weighted * points >= 0) return weighted * points / den;
    return BigInteger.valueOf(weighted).multiply(BigInteger.valueOf(points))
        .divide(BigInteger.valueOf(den)).longValueExact(); // <= 1e15: bound checked at load
  }

  /** Programs from a textproto file or from every *.textproto of a directory. */
  static Map<String, Earn> load(Path path) throws IOException {
    List<Path> files = new ArrayList<>();
    if (Files.isDirectory(path)) {
      try (Stream<Path> s = Files.list(path)) {
        s.filter(f -> f.getFileName().toString().endsWith(".textproto")).sorted().forEach(files::add);
      }
      if (files.isEmpty()) throw new IOException(path + ": no *.textproto file");
    } else {
      files.add(path);
    }
    Map<String, Earn> out = new HashMap<>();
    for (Path f : files) {
      Program.Builder b = Program.newBuilder();
      try {
        TextFormat.getParser().merge(Files.readString(f, StandardCharsets.UTF_8), b);
      } catch (TextFormat.ParseException ex) {
        throw new IOException(f + ": " + ex.getMessage(), ex);
      }
      Earn earn;
      try {
        earn = new Earn(b.build());
      } catch (IllegalArgumentException ex) {
        throw new IOException(f + ": " + ex.getMessage(), ex);
      }
      if (out.put(earn.programId, earn) != null) {
        throw new IOException(f + ": program_id \"" + earn.programId + "\" loaded twice");
      }
    }
    return out;
  }
}
