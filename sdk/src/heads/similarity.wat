;; Dot products of queries with stored reference rows, for exact kNN search (knn.ts through
;; similarity.ts). sdk/scripts/build-wasm.mjs compiles this file to similarity-wasm.ts and
;; similarity.wasm. Addresses are byte offsets into the imported memory; rows are float32 and
;; dim is a multiple of 8.
;;
;; The arithmetic is fixed so that similarity.ts can repeat it in JavaScript bit for bit: for
;; each query and reference, lane l of one accumulator sums the products of elements k ≡ l
;; (mod 8) and lane l of another those of k ≡ 4 + l (mod 8), each in increasing k, every product
;; and sum rounded to float32 (no fused multiply-add); then the two are added lane by lane and
;; the four lanes summed as (l0 + l1) + (l2 + l3).
(module
  (import "env" "memory" (memory 1))
  (func $sumLanes (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
  (func $sumInts (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))
  ;; Four queries (4 × dim floats from $queries) against $count references from $refs: the
  ;; scores of reference r go to out[4r .. 4r+3], one per query, so each reference row is read
  ;; once for four queries.
  (func (export "dots4")
    (param $queries i32) (param $refs i32) (param $count i32) (param $dim i32) (param $out i32)
    (local $bytes i32) (local $end i32) (local $r i32) (local $k i32) (local $o i32) (local $v v128) (local $w v128)
    (local $q0 i32) (local $q1 i32) (local $q2 i32) (local $q3 i32)
    (local $e0 v128) (local $f0 v128) (local $e1 v128) (local $f1 v128) (local $e2 v128) (local $f2 v128) (local $e3 v128) (local $f3 v128)
    (local.set $bytes (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $q0 (local.get $queries))
    (local.set $q1 (i32.add (local.get $q0) (local.get $bytes)))
    (local.set $q2 (i32.add (local.get $q1) (local.get $bytes)))
    (local.set $q3 (i32.add (local.get $q2) (local.get $bytes)))
    (local.set $r (local.get $refs))
    (local.set $end (i32.add (local.get $refs) (i32.mul (local.get $count) (local.get $bytes))))
    (local.set $o (local.get $out))
    (block $refsDone
      (loop $eachRef
        (br_if $refsDone (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $e0 (v128.const i32x4 0 0 0 0))
        (local.set $f0 (v128.const i32x4 0 0 0 0))
        (local.set $e1 (v128.const i32x4 0 0 0 0))
        (local.set $f1 (v128.const i32x4 0 0 0 0))
        (local.set $e2 (v128.const i32x4 0 0 0 0))
        (local.set $f2 (v128.const i32x4 0 0 0 0))
        (local.set $e3 (v128.const i32x4 0 0 0 0))
        (local.set $f3 (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $dimsDone
          (loop $eachEight
            (br_if $dimsDone (i32.ge_u (local.get $k) (local.get $bytes)))
            (local.set $v (v128.load (i32.add (local.get $r) (local.get $k))))
            (local.set $w (v128.load offset=16 (i32.add (local.get $r) (local.get $k))))
            (local.set $e0 (f32x4.add (local.get $e0) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $q0) (local.get $k))))))
            (local.set $f0 (f32x4.add (local.get $f0) (f32x4.mul (local.get $w) (v128.load offset=16 (i32.add (local.get $q0) (local.get $k))))))
            (local.set $e1 (f32x4.add (local.get $e1) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $q1) (local.get $k))))))
            (local.set $f1 (f32x4.add (local.get $f1) (f32x4.mul (local.get $w) (v128.load offset=16 (i32.add (local.get $q1) (local.get $k))))))
            (local.set $e2 (f32x4.add (local.get $e2) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $q2) (local.get $k))))))
            (local.set $f2 (f32x4.add (local.get $f2) (f32x4.mul (local.get $w) (v128.load offset=16 (i32.add (local.get $q2) (local.get $k))))))
            (local.set $e3 (f32x4.add (local.get $e3) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $q3) (local.get $k))))))
            (local.set $f3 (f32x4.add (local.get $f3) (f32x4.mul (local.get $w) (v128.load offset=16 (i32.add (local.get $q3) (local.get $k))))))
            (local.set $k (i32.add (local.get $k) (i32.const 32)))
            (br $eachEight)))
        (f32.store offset=0 (local.get $o) (call $sumLanes (f32x4.add (local.get $e0) (local.get $f0))))
        (f32.store offset=4 (local.get $o) (call $sumLanes (f32x4.add (local.get $e1) (local.get $f1))))
        (f32.store offset=8 (local.get $o) (call $sumLanes (f32x4.add (local.get $e2) (local.get $f2))))
        (f32.store offset=12 (local.get $o) (call $sumLanes (f32x4.add (local.get $e3) (local.get $f3))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (local.get $bytes)))
        (br $eachRef))))
  ;; The first, approximate pass of a search (knn.ts): four queries as int16 (4 × dim from
  ;; $queries) against $count references as int8 (dim bytes each from $refs), exact integer dot
  ;; products to out[4r .. 4r+3] (i32). Each step reads 16 bytes of a reference, widens them to
  ;; int16 and multiplies pairs (i32x4.dot_i16x8_s); |products| ≤ 127², so no sum overflows for
  ;; dim < 130,000. dim is a multiple of 16.
  (func (export "idots4")
    (param $queries i32) (param $refs i32) (param $count i32) (param $dim i32) (param $out i32)
    (local $end i32) (local $r i32) (local $k i32) (local $o i32) (local $v v128) (local $lo v128) (local $hi v128)
    (local $q0 i32) (local $q1 i32) (local $q2 i32) (local $q3 i32) (local $qk i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $q0 (local.get $queries))
    (local.set $q1 (i32.add (local.get $q0) (i32.shl (local.get $dim) (i32.const 1))))
    (local.set $q2 (i32.add (local.get $q1) (i32.shl (local.get $dim) (i32.const 1))))
    (local.set $q3 (i32.add (local.get $q2) (i32.shl (local.get $dim) (i32.const 1))))
    (local.set $r (local.get $refs))
    (local.set $end (i32.add (local.get $refs) (i32.mul (local.get $count) (local.get $dim))))
    (local.set $o (local.get $out))
    (block $refsDone
      (loop $eachRef
        (br_if $refsDone (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $dimsDone
          (loop $eachSixteen
            (br_if $dimsDone (i32.ge_u (local.get $k) (local.get $dim)))
            (local.set $v (v128.load (i32.add (local.get $r) (local.get $k))))
            (local.set $lo (i16x8.extend_low_i8x16_s (local.get $v)))
            (local.set $hi (i16x8.extend_high_i8x16_s (local.get $v)))
            (local.set $qk (i32.shl (local.get $k) (i32.const 1)))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
              (i32x4.dot_i16x8_s (local.get $lo) (v128.load (i32.add (local.get $q0) (local.get $qk))))
              (i32x4.dot_i16x8_s (local.get $hi) (v128.load offset=16 (i32.add (local.get $q0) (local.get $qk)))))))
            (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
              (i32x4.dot_i16x8_s (local.get $lo) (v128.load (i32.add (local.get $q1) (local.get $qk))))
              (i32x4.dot_i16x8_s (local.get $hi) (v128.load offset=16 (i32.add (local.get $q1) (local.get $qk)))))))
            (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
              (i32x4.dot_i16x8_s (local.get $lo) (v128.load (i32.add (local.get $q2) (local.get $qk))))
              (i32x4.dot_i16x8_s (local.get $hi) (v128.load offset=16 (i32.add (local.get $q2) (local.get $qk)))))))
            (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
              (i32x4.dot_i16x8_s (local.get $lo) (v128.load (i32.add (local.get $q3) (local.get $qk))))
              (i32x4.dot_i16x8_s (local.get $hi) (v128.load offset=16 (i32.add (local.get $q3) (local.get $qk)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $eachSixteen)))
        (i32.store offset=0 (local.get $o) (call $sumInts (local.get $a0)))
        (i32.store offset=4 (local.get $o) (call $sumInts (local.get $a1)))
        (i32.store offset=8 (local.get $o) (call $sumInts (local.get $a2)))
        (i32.store offset=12 (local.get $o) (call $sumInts (local.get $a3)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (local.get $dim)))
        (br $eachRef))))
  ;; idots4 for one query: out[r] (i32) is its integer dot product with reference r.
  (func (export "idots1")
    (param $queries i32) (param $refs i32) (param $count i32) (param $dim i32) (param $out i32)
    (local $end i32) (local $r i32) (local $k i32) (local $o i32) (local $v v128) (local $qk i32) (local $a0 v128)
    (local.set $r (local.get $refs))
    (local.set $end (i32.add (local.get $refs) (i32.mul (local.get $count) (local.get $dim))))
    (local.set $o (local.get $out))
    (block $refsDone
      (loop $eachRef
        (br_if $refsDone (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $dimsDone
          (loop $eachSixteen
            (br_if $dimsDone (i32.ge_u (local.get $k) (local.get $dim)))
            (local.set $v (v128.load (i32.add (local.get $r) (local.get $k))))
            (local.set $qk (i32.add (local.get $queries) (i32.shl (local.get $k) (i32.const 1))))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load (local.get $qk)))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=16 (local.get $qk))))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $eachSixteen)))
        (i32.store (local.get $o) (call $sumInts (local.get $a0)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (local.get $dim)))
        (br $eachRef))))
  ;; One query against $count references: out[r] is its score with reference r.
  (func (export "dots1")
    (param $queries i32) (param $refs i32) (param $count i32) (param $dim i32) (param $out i32)
    (local $bytes i32) (local $end i32) (local $r i32) (local $k i32) (local $o i32) (local $v v128) (local $w v128)
    (local $q0 i32)
    (local $e0 v128) (local $f0 v128)
    (local.set $bytes (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $q0 (local.get $queries))
    (local.set $r (local.get $refs))
    (local.set $end (i32.add (local.get $refs) (i32.mul (local.get $count) (local.get $bytes))))
    (local.set $o (local.get $out))
    (block $refsDone
      (loop $eachRef
        (br_if $refsDone (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $e0 (v128.const i32x4 0 0 0 0))
        (local.set $f0 (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $dimsDone
          (loop $eachEight
            (br_if $dimsDone (i32.ge_u (local.get $k) (local.get $bytes)))
            (local.set $v (v128.load (i32.add (local.get $r) (local.get $k))))
            (local.set $w (v128.load offset=16 (i32.add (local.get $r) (local.get $k))))
            (local.set $e0 (f32x4.add (local.get $e0) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $q0) (local.get $k))))))
            (local.set $f0 (f32x4.add (local.get $f0) (f32x4.mul (local.get $w) (v128.load offset=16 (i32.add (local.get $q0) (local.get $k))))))
            (local.set $k (i32.add (local.get $k) (i32.const 32)))
            (br $eachEight)))
        (f32.store offset=0 (local.get $o) (call $sumLanes (f32x4.add (local.get $e0) (local.get $f0))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (local.get $bytes)))
        (br $eachRef))))
)
