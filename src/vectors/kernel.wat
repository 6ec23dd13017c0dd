;; The scan kernel, in WASM SIMD. An agent's vectors are stored twice, contiguously: as float32
;; (exact) and as int8 with one scale per row (a quarter of the bytes, for the first pass).
;; Dimensions are padded to a multiple of 32. Build: npm run build:wasm (writes kernel.wasm).
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

  ;; Integer dot product of an int8 row and an int16 query (the query is widened once per search).
  (func $dot_i8 (param $a i32) (param $b i32) (param $dim i32) (result i32)
    (local $end i32) (local $v v128) (local $w v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $end (i32.add (local.get $a) (local.get $dim)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $v (v128.load offset=0 (local.get $a)))
        (local.set $w (v128.load offset=16 (local.get $a)))
        (local.set $s0 (i32x4.add (local.get $s0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load offset=0 (local.get $b)))))
        (local.set $s1 (i32x4.add (local.get $s1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=16 (local.get $b)))))
        (local.set $s2 (i32x4.add (local.get $s2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $w)) (v128.load offset=32 (local.get $b)))))
        (local.set $s3 (i32x4.add (local.get $s3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $w)) (v128.load offset=48 (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 64)))
        (br $next)))
    (local.set $s0 (i32x4.add (i32x4.add (local.get $s0) (local.get $s1)) (i32x4.add (local.get $s2) (local.get $s3))))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $s0)) (i32x4.extract_lane 1 (local.get $s0)))
      (i32.add (i32x4.extract_lane 2 (local.get $s0)) (i32x4.extract_lane 3 (local.get $s0)))))

  ;; First pass over rows [0, n). A row passes when rewards[i] >= minReward and bit types[i] of
  ;; typeMask is set. For a passing row, out[i] = alpha * cos~ + beta * rewards[i] (the seed's hybrid), where
  ;; cos~ = scales[i] * queryScale * dot_i8(row, query) approximates the cosine; other rows get -inf.
  ;; Returns the number of passing rows.
  (func (export "approx_hybrid")
    (param $rows i32) (param $scales i32) (param $rewards i32) (param $types i32) (param $n i32) (param $dim i32)
    (param $query i32) (param $queryScale f32) (param $out i32)
    (param $minReward f32) (param $typeMask i32) (param $alpha f32) (param $beta f32) (result i32)
    (local $i i32) (local $row i32) (local $reward f32) (local $passed i32)
    (local.set $row (local.get $rows))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $reward (f32.load (i32.add (local.get $rewards) (i32.shl (local.get $i) (i32.const 2)))))
        (if (i32.and
              (f32.ge (local.get $reward) (local.get $minReward))
              (i32.ne (i32.const 0)
                (i32.and (local.get $typeMask) (i32.shl (i32.const 1) (i32.load8_u (i32.add (local.get $types) (local.get $i)))))))
          (then
            (local.set $passed (i32.add (local.get $passed) (i32.const 1)))
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
              (f32.add
                (f32.mul (local.get $alpha)
                  (f32.mul
                    (f32.mul (f32.load (i32.add (local.get $scales) (i32.shl (local.get $i) (i32.const 2)))) (local.get $queryScale))
                    (f32.convert_i32_s (call $dot_i8 (local.get $row) (local.get $query) (local.get $dim)))))
                (f32.mul (local.get $beta) (local.get $reward)))))
          (else
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (f32.const -inf))))
        (local.set $row (i32.add (local.get $row) (local.get $dim)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $passed))
;; Counts the finite scores out[0..n) into nb buckets spanning [lo, hi); counts are int32 at
  ;; buckets (zeroed here). Used to find, without sorting, a score above which about m rows lie.
  (func (export "histogram") (param $out i32) (param $n i32) (param $lo f32) (param $hi f32) (param $buckets i32) (param $nb i32)
    (local $i i32) (local $v f32) (local $b i32) (local $scale f32) (local $at i32)
    (memory.fill (local.get $buckets) (i32.const 0) (i32.shl (local.get $nb) (i32.const 2)))
    (local.set $scale (f32.div (f32.convert_i32_s (local.get $nb)) (f32.sub (local.get $hi) (local.get $lo))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (f32.load (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.gt (local.get $v) (f32.const -inf))
          (then
            (local.set $b (i32.trunc_sat_f32_s (f32.mul (f32.sub (local.get $v) (local.get $lo)) (local.get $scale))))
            (if (i32.lt_s (local.get $b) (i32.const 0)) (then (local.set $b (i32.const 0))))
            (if (i32.ge_s (local.get $b) (local.get $nb)) (then (local.set $b (i32.sub (local.get $nb) (i32.const 1)))))
            (local.set $at (i32.add (local.get $buckets) (i32.shl (local.get $b) (i32.const 2))))
            (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; Writes to rowsOut the index of every row whose score plus its error bound reaches threshold:
  ;; out[i] + alpha * (errors[i] + (1 + errors[i]) * queryError) + 1e-5 >= threshold.
  ;; (alpha = 0 collects plain out[i] >= threshold.) Returns how many were written.
  (func (export "collect") (param $out i32) (param $errors i32) (param $n i32) (param $threshold f32)
    (param $alpha f32) (param $queryError f32) (param $rowsOut i32) (result i32)
    (local $i i32) (local $e f32) (local $count i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (f32.load (i32.add (local.get $errors) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.ge
              (f32.add
                (f32.add (f32.load (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))))
                  (f32.mul (local.get $alpha)
                    (f32.add (local.get $e) (f32.mul (f32.add (f32.const 1) (local.get $e)) (local.get $queryError)))))
                (f32.const 1e-5))
              (local.get $threshold))
          (then
            (i32.store (i32.add (local.get $rowsOut) (i32.shl (local.get $count) (i32.const 2))) (local.get $i))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $count))
)
