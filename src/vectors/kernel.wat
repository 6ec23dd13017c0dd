;; The scan kernel, in WASM SIMD. An agent's vectors are stored twice: as float32 rows (exact) and
;; as int8 codes with one scale per row (a quarter of the bytes, for the first pass). Dimensions are
;; padded to a multiple of 32. Build: npm run build:wasm (writes kernel.wasm).
;;
;; The int8 codes are laid out for the scan, not by row: rows come in blocks of B = 2^shift rows
;; (1024 in vector-table.ts), and inside a block dimensions come in pairs. One pair of one block is
;; 2B bytes (B rows x 2 dimensions, row-interleaved: r0d0 r0d1 r1d0 r1d1 ...), so row r's
;; dimension d is at  (r / B) * B * stride + (d / 2) * 2B + (r % B) * 2 + (d % 2).
;; A query reads only the pairs where it is not zero. Hashing embeddings of a question are sparse
;; (15 to 30 of 384 dimensions, ~20 of 192 pairs), so a scan reads ~1/10 of the codes; a dense
;; query reads them all.
;; Each pair of a block is read front to back, so the scan is a few sequential streams.
(module
  (import "env" "memory" (memory 1))

  ;; Exact dot product of two float32 vectors.
  (func $dot_f32 (export "dot_f32") (param $a i32) (param $b i32) (param $dim i32) (result f32)
    (local $end i32) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $dim) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load offset=0 (local.get $a)) (v128.load offset=0 (local.get $b)))))
        (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b)))))
        (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load offset=32 (local.get $a)) (v128.load offset=32 (local.get $b)))))
        (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load offset=48 (local.get $a)) (v128.load offset=48 (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 64)))
        (local.set $b (i32.add (local.get $b) (i32.const 64)))
        (br $next)))
    (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
      (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))

  ;; Scores 4 rows from their integer dot products (acc) and writes them to out: a row passes when
  ;; its index is below n, rewards[i] >= minReward and its type is allowed (allow0 / allow1: all
  ;; ones when type 0 / 1 is in the filter). A passing row's score is
  ;; k * scales[i] * acc + beta * rewards[i] (k = alpha * queryScale), others get -inf.
  ;; Returns how many passed.
  (func $finish (param $i i32) (param $acc v128) (param $scales i32) (param $rewards i32) (param $types i32) (param $out i32)
    (param $n i32) (param $k v128) (param $beta v128) (param $minReward v128) (param $allow0 v128) (param $allow1 v128) (result i32)
    (local $reward v128) (local $type v128) (local $mask v128) (local $at i32)
    (local.set $at (i32.shl (local.get $i) (i32.const 2)))
    (local.set $reward (v128.load (i32.add (local.get $rewards) (local.get $at))))
    (local.set $type (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
      (v128.load32_zero (i32.add (local.get $types) (local.get $i))))))
    (local.set $mask (v128.and
      (v128.and
        (f32x4.ge (local.get $reward) (local.get $minReward))
        (i32x4.lt_s (i32x4.add (i32x4.splat (local.get $i)) (v128.const i32x4 0 1 2 3)) (i32x4.splat (local.get $n))))
      (v128.or
        (v128.and (i32x4.eq (local.get $type) (v128.const i32x4 0 0 0 0)) (local.get $allow0))
        (v128.and (i32x4.eq (local.get $type) (v128.const i32x4 1 1 1 1)) (local.get $allow1)))))
    (v128.store (i32.add (local.get $out) (local.get $at))
      (v128.bitselect
        (f32x4.add
          (f32x4.mul (f32x4.mul (local.get $k) (v128.load (i32.add (local.get $scales) (local.get $at))))
            (f32x4.convert_i32x4_s (local.get $acc)))
          (f32x4.mul (local.get $beta) (local.get $reward)))
        (v128.const f32x4 -inf -inf -inf -inf)
        (local.get $mask)))
    (i32.popcnt (i32x4.bitmask (local.get $mask))))

  ;; First pass over rows [0, n): out[i] = alpha * cos~ + beta * rewards[i] (the seed's hybrid) for
  ;; rows passing the filter (see $finish), -inf for the others, and maxes[g] = the largest score of
  ;; rows [16g, 16g + 16), where cos~ = scales[i] * queryScale * (int8 row . int16 query)
  ;; approximates the cosine.
  ;; The query is given as npairs entries of 8 bytes at pairs: the byte offset of a dimension pair
  ;; inside a block (pair * 2B), then its two int16 values packed in an i32 (low: even dimension).
  ;; Only pairs listed are read, so pairs where the query is zero cost nothing.
  ;; Block by block, pairs go outside and rows inside: four pairs at a time, each read front to back
  ;; for the block's rows, with the sums in acc (B int32, in cache). So the codes are read as a few
  ;; sequential streams whether the query is sparse or dense (rows outside and pairs inside read
  ;; one cache line per pair per 32 rows, scattered over the block: 5x slower for a dense query).
  ;; scales, rewards, types and out must have room for n rounded up to the block. Returns the passing count.
  (func (export "approx_hybrid")
    (param $codes i32) (param $scales i32) (param $rewards i32) (param $types i32) (param $n i32) (param $stride i32) (param $shift i32)
    (param $pairs i32) (param $npairs i32) (param $queryScale f32) (param $out i32) (param $maxes i32) (param $acc i32)
    (param $minReward f32) (param $typeMask i32) (param $alpha f32) (param $beta f32) (result i32)
    (local $first i32) (local $base i32) (local $rows i32) (local $end i32) (local $g i32) (local $p i32) (local $pend i32) (local $pend4 i32)
    (local $c0 i32) (local $c1 i32) (local $c2 i32) (local $c3 i32) (local $at i32) (local $row i32) (local $passed i32)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128) (local $v0 v128) (local $v1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $k v128) (local $vbeta v128) (local $vmin v128) (local $allow0 v128) (local $allow1 v128)
    (local.set $k (f32x4.splat (f32.mul (local.get $alpha) (local.get $queryScale))))
    (local.set $vbeta (f32x4.splat (local.get $beta)))
    (local.set $vmin (f32x4.splat (local.get $minReward)))
    (local.set $allow0 (i32x4.splat (i32.sub (i32.const 0) (i32.and (local.get $typeMask) (i32.const 1)))))
    (local.set $allow1 (i32x4.splat (i32.sub (i32.const 0) (i32.and (i32.shr_u (local.get $typeMask) (i32.const 1)) (i32.const 1)))))
    (local.set $pend (i32.add (local.get $pairs) (i32.shl (local.get $npairs) (i32.const 3))))
    (local.set $pend4 (i32.add (local.get $pairs) (i32.shl (i32.and (local.get $npairs) (i32.const -4)) (i32.const 3))))
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $first) (local.get $n)))
        (local.set $base (i32.add (local.get $codes) (i32.mul (local.get $first) (local.get $stride))))
        ;; This block's rows, rounded up to 16; as bytes of one pair (2 a row).
        (local.set $rows (i32.sub (local.get $n) (local.get $first)))
        (if (i32.gt_u (local.get $rows) (i32.shl (i32.const 1) (local.get $shift)))
          (then (local.set $rows (i32.shl (i32.const 1) (local.get $shift)))))
        (local.set $end (i32.shl (i32.and (i32.add (local.get $rows) (i32.const 15)) (i32.const -16)) (i32.const 1)))
        (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $end) (i32.const 1)))
        ;; Four pairs at a time.
        (local.set $p (local.get $pairs))
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.ge_u (local.get $p) (local.get $pend4)))
            (local.set $c0 (i32.add (local.get $base) (i32.load offset=0 (local.get $p))))
            (local.set $c1 (i32.add (local.get $base) (i32.load offset=8 (local.get $p))))
            (local.set $c2 (i32.add (local.get $base) (i32.load offset=16 (local.get $p))))
            (local.set $c3 (i32.add (local.get $base) (i32.load offset=24 (local.get $p))))
            (local.set $q0 (v128.load32_splat offset=4 (local.get $p)))
            (local.set $q1 (v128.load32_splat offset=12 (local.get $p)))
            (local.set $q2 (v128.load32_splat offset=20 (local.get $p)))
            (local.set $q3 (v128.load32_splat offset=28 (local.get $p)))
            (local.set $g (i32.const 0))
            (block $groupsDone
              (loop $groups
                (br_if $groupsDone (i32.ge_u (local.get $g) (local.get $end)))
                ;; g: byte offset of 16 rows in a pair; their sums sit at acc + 2g.
                (local.set $at (i32.add (local.get $acc) (i32.shl (local.get $g) (i32.const 1))))
                (local.set $a0 (v128.load offset=0 (local.get $at)))
                (local.set $a1 (v128.load offset=16 (local.get $at)))
                (local.set $a2 (v128.load offset=32 (local.get $at)))
                (local.set $a3 (v128.load offset=48 (local.get $at)))
                (local.set $v0 (v128.load offset=0 (i32.add (local.get $c0) (local.get $g))))
                (local.set $v1 (v128.load offset=16 (i32.add (local.get $c0) (local.get $g))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v0)) (local.get $q0))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v0)) (local.get $q0))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v1)) (local.get $q0))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v1)) (local.get $q0))))
                (local.set $v0 (v128.load offset=0 (i32.add (local.get $c1) (local.get $g))))
                (local.set $v1 (v128.load offset=16 (i32.add (local.get $c1) (local.get $g))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v0)) (local.get $q1))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v0)) (local.get $q1))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v1)) (local.get $q1))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v1)) (local.get $q1))))
                (local.set $v0 (v128.load offset=0 (i32.add (local.get $c2) (local.get $g))))
                (local.set $v1 (v128.load offset=16 (i32.add (local.get $c2) (local.get $g))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v0)) (local.get $q2))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v0)) (local.get $q2))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v1)) (local.get $q2))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v1)) (local.get $q2))))
                (local.set $v0 (v128.load offset=0 (i32.add (local.get $c3) (local.get $g))))
                (local.set $v1 (v128.load offset=16 (i32.add (local.get $c3) (local.get $g))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v0)) (local.get $q3))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v0)) (local.get $q3))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v1)) (local.get $q3))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v1)) (local.get $q3))))
                (v128.store offset=0 (local.get $at) (local.get $a0))
                (v128.store offset=16 (local.get $at) (local.get $a1))
                (v128.store offset=32 (local.get $at) (local.get $a2))
                (v128.store offset=48 (local.get $at) (local.get $a3))
                (local.set $g (i32.add (local.get $g) (i32.const 32)))
                (br $groups)))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (br $quads)))
        ;; The last one to three pairs, one at a time.
        (block $singlesDone
          (loop $singles
            (br_if $singlesDone (i32.ge_u (local.get $p) (local.get $pend)))
            (local.set $c0 (i32.add (local.get $base) (i32.load offset=0 (local.get $p))))
            (local.set $q0 (v128.load32_splat offset=4 (local.get $p)))
            (local.set $g (i32.const 0))
            (block $groupsDone
              (loop $groups
                (br_if $groupsDone (i32.ge_u (local.get $g) (local.get $end)))
                (local.set $at (i32.add (local.get $acc) (i32.shl (local.get $g) (i32.const 1))))
                (local.set $v0 (v128.load offset=0 (i32.add (local.get $c0) (local.get $g))))
                (local.set $v1 (v128.load offset=16 (i32.add (local.get $c0) (local.get $g))))
                (v128.store offset=0 (local.get $at) (i32x4.add (v128.load offset=0 (local.get $at)) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v0)) (local.get $q0))))
                (v128.store offset=16 (local.get $at) (i32x4.add (v128.load offset=16 (local.get $at)) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v0)) (local.get $q0))))
                (v128.store offset=32 (local.get $at) (i32x4.add (v128.load offset=32 (local.get $at)) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v1)) (local.get $q0))))
                (v128.store offset=48 (local.get $at) (i32x4.add (v128.load offset=48 (local.get $at)) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v1)) (local.get $q0))))
                (local.set $g (i32.add (local.get $g) (i32.const 32)))
                (br $groups)))
            (local.set $p (i32.add (local.get $p) (i32.const 8)))
            (br $singles)))
        ;; Scores, 16 rows at a time, and each group's best.
        (local.set $g (i32.const 0))
        (block $scoredDone
          (loop $scored
            (br_if $scoredDone (i32.ge_u (local.get $g) (local.get $end)))
            (local.set $at (i32.add (local.get $acc) (i32.shl (local.get $g) (i32.const 1))))
            (local.set $row (i32.add (local.get $first) (i32.shr_u (local.get $g) (i32.const 1))))
            (local.set $passed (i32.add (local.get $passed)
              (i32.add
                (i32.add
                  (call $finish (local.get $row) (v128.load offset=0 (local.get $at)) (local.get $scales) (local.get $rewards) (local.get $types) (local.get $out)
                    (local.get $n) (local.get $k) (local.get $vbeta) (local.get $vmin) (local.get $allow0) (local.get $allow1))
                  (call $finish (i32.add (local.get $row) (i32.const 4)) (v128.load offset=16 (local.get $at)) (local.get $scales) (local.get $rewards) (local.get $types) (local.get $out)
                    (local.get $n) (local.get $k) (local.get $vbeta) (local.get $vmin) (local.get $allow0) (local.get $allow1)))
                (i32.add
                  (call $finish (i32.add (local.get $row) (i32.const 8)) (v128.load offset=32 (local.get $at)) (local.get $scales) (local.get $rewards) (local.get $types) (local.get $out)
                    (local.get $n) (local.get $k) (local.get $vbeta) (local.get $vmin) (local.get $allow0) (local.get $allow1))
                  (call $finish (i32.add (local.get $row) (i32.const 12)) (v128.load offset=48 (local.get $at)) (local.get $scales) (local.get $rewards) (local.get $types) (local.get $out)
                    (local.get $n) (local.get $k) (local.get $vbeta) (local.get $vmin) (local.get $allow0) (local.get $allow1))))))
            (local.set $at (i32.add (local.get $out) (i32.shl (local.get $row) (i32.const 2))))
            (local.set $v0 (f32x4.max
              (f32x4.max (v128.load offset=0 (local.get $at)) (v128.load offset=16 (local.get $at)))
              (f32x4.max (v128.load offset=32 (local.get $at)) (v128.load offset=48 (local.get $at)))))
            (f32.store (i32.add (local.get $maxes) (i32.shr_u (local.get $row) (i32.const 2)))
              (f32.max
                (f32.max (f32x4.extract_lane 0 (local.get $v0)) (f32x4.extract_lane 1 (local.get $v0)))
                (f32.max (f32x4.extract_lane 2 (local.get $v0)) (f32x4.extract_lane 3 (local.get $v0)))))
            (local.set $g (i32.add (local.get $g) (i32.const 32)))
            (br $scored)))
        (local.set $first (i32.add (local.get $first) (i32.shl (i32.const 1) (local.get $shift))))
        (br $blocks)))
    (local.get $passed))

  ;; Counts the scores out[0..n) that are at least lo into nb buckets spanning [lo, hi); counts
  ;; are int32 at buckets (zeroed here). Used to find, without sorting, a score above which about
  ;; m rows lie. Scores below lo (and -inf) are skipped 4 at a time.
  (func (export "histogram") (param $out i32) (param $n i32) (param $lo f32) (param $hi f32) (param $buckets i32) (param $nb i32)
    (local $i i32) (local $v f32) (local $b i32) (local $scale f32) (local $at i32) (local $vlo v128) (local $end4 i32)
    (memory.fill (local.get $buckets) (i32.const 0) (i32.shl (local.get $nb) (i32.const 2)))
    (local.set $scale (f32.div (f32.convert_i32_s (local.get $nb)) (f32.sub (local.get $hi) (local.get $lo))))
    (local.set $vlo (f32x4.splat (local.get $lo)))
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.and
              (i32.lt_u (local.get $i) (local.get $end4))
              (i32.eqz (i32.and (local.get $i) (i32.const 3))))
          (then
            ;; Four at a time while none of them counts.
            (if (i32.eqz (v128.any_true (f32x4.ge (v128.load (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))) (local.get $vlo))))
              (then
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $next)))))
        (local.set $v (f32.load (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.ge (local.get $v) (local.get $lo))
          (then
            (local.set $b (i32.trunc_sat_f32_s (f32.mul (f32.sub (local.get $v) (local.get $lo)) (local.get $scale))))
            (if (i32.ge_s (local.get $b) (local.get $nb)) (then (local.set $b (i32.sub (local.get $nb) (i32.const 1)))))
            (local.set $at (i32.add (local.get $buckets) (i32.shl (local.get $b) (i32.const 2))))
            (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; Writes to rowsOut the index of every row whose score plus its error bound reaches threshold:
  ;; out[i] + alpha * (errors[i] + (1 + errors[i]) * queryError) + 1e-5 >= threshold.
  ;; (alpha = 0 collects plain out[i] + 1e-5 >= threshold.) Returns how many were written.
  ;; out and errors must have room for n rounded up to 4; four rows are tested at once.
  (func (export "collect") (param $out i32) (param $errors i32) (param $n i32) (param $threshold f32)
    (param $alpha f32) (param $queryError f32) (param $rowsOut i32) (result i32)
    (local $i i32) (local $count i32) (local $e v128) (local $bits i32) (local $row i32)
    (local $va v128) (local $vq v128) (local $vt v128)
    (local.set $va (f32x4.splat (local.get $alpha)))
    (local.set $vq (f32x4.splat (local.get $queryError)))
    (local.set $vt (f32x4.splat (local.get $threshold)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (v128.load (i32.add (local.get $errors) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $bits (i32x4.bitmask (f32x4.ge
          (f32x4.add
            (f32x4.add (v128.load (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))))
              (f32x4.mul (local.get $va)
                (f32x4.add (local.get $e) (f32x4.mul (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e)) (local.get $vq)))))
            (v128.const f32x4 1e-5 1e-5 1e-5 1e-5))
          (local.get $vt))))
        ;; Rows past n in the last group of four do not count.
        (if (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n))
          (then (local.set $bits (i32.and (local.get $bits)
            (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $n) (local.get $i))) (i32.const 1))))))
        (block $emitted
          (loop $emit
            (br_if $emitted (i32.eqz (local.get $bits)))
            (local.set $row (i32.add (local.get $i) (i32.ctz (local.get $bits))))
            (i32.store (i32.add (local.get $rowsOut) (i32.shl (local.get $count) (i32.const 2))) (local.get $row))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (local.set $bits (i32.and (local.get $bits) (i32.sub (local.get $bits) (i32.const 1))))
            (br $emit)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (local.get $count))
)
