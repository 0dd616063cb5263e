;; The two resampling passes of image preprocessing (image.ts) as WebAssembly SIMD kernels.
;; sdk/scripts/build-wasm.mjs compiles this file to resample-wasm.ts. Addresses are byte offsets
;; into the exported memory; float arrays are float32, index arrays int32.
(module
  (memory (export "memory") 1)
  ;; The horizontal pass for 8-bit RGB rows: for each source row firstRow .. firstRow+rows-1 and
  ;; output column x, the taps start[x] .. start[x]+count[x]-1 (source column index[t], weight
  ;; weight[t]) are summed with R, G and B in one vector, then scaled and offset per channel and
  ;; stored to the three planes outR, outG, outB (rows × width floats each).
  ;; Reads one byte past the last pixel: the caller leaves padding after the image.
  (func (export "horizontal")
    (param $src i32) (param $rowBytes i32) (param $firstRow i32) (param $rows i32) (param $width i32)
    (param $start i32) (param $count i32) (param $index i32) (param $weight i32)
    (param $outR i32) (param $outG i32) (param $outB i32)
    (param $mR f32) (param $mG f32) (param $mB f32) (param $aR f32) (param $aG f32) (param $aB f32)
    (local $row i32) (local $rowEnd i32) (local $x i32) (local $t i32) (local $tEnd i32) (local $o i32)
    (local $acc v128) (local $mul v128) (local $add v128) (local $v v128)
    (local.set $mul (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat (local.get $mR)) (local.get $mG)) (local.get $mB)))
    (local.set $add (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat (local.get $aR)) (local.get $aG)) (local.get $aB)))
    (local.set $row (i32.add (local.get $src) (i32.mul (local.get $firstRow) (local.get $rowBytes))))
    (local.set $rowEnd (i32.add (local.get $row) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (local.set $o (i32.const 0))
    (block $rowsDone
      (loop $eachRow
        (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $rowEnd)))
        (local.set $x (i32.const 0))
        (block $colsDone
          (loop $eachCol
            (br_if $colsDone (i32.ge_u (local.get $x) (local.get $width)))
            (local.set $t (i32.load (i32.add (local.get $start) (i32.shl (local.get $x) (i32.const 2)))))
            (local.set $tEnd (i32.add (local.get $t) (i32.load (i32.add (local.get $count) (i32.shl (local.get $x) (i32.const 2))))))
            (local.set $acc (v128.const i32x4 0 0 0 0))
            (block $tapsDone
              (loop $eachTap
                (br_if $tapsDone (i32.ge_u (local.get $t) (local.get $tEnd)))
                ;; R, G, B (and the next byte, unused) widened to four floats.
                (local.set $acc
                  (f32x4.add (local.get $acc)
                    (f32x4.mul
                      (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                        (v128.load32_zero (i32.add (local.get $row)
                          (i32.mul (i32.load (i32.add (local.get $index) (i32.shl (local.get $t) (i32.const 2)))) (i32.const 3)))))))
                      (f32x4.splat (f32.load (i32.add (local.get $weight) (i32.shl (local.get $t) (i32.const 2))))))))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $eachTap)))
            (local.set $v (f32x4.add (f32x4.mul (local.get $acc) (local.get $mul)) (local.get $add)))
            (f32.store (i32.add (local.get $outR) (local.get $o)) (f32x4.extract_lane 0 (local.get $v)))
            (f32.store (i32.add (local.get $outG) (local.get $o)) (f32x4.extract_lane 1 (local.get $v)))
            (f32.store (i32.add (local.get $outB) (local.get $o)) (f32x4.extract_lane 2 (local.get $v)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $eachCol)))
        (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
        (br $eachRow)))
  )

  ;; The vertical pass into one NCHW image: for each of the three planes (rows × width floats,
  ;; planeBytes apart, the first holding source row firstRow) and output row y, the taps
  ;; start[y] .. start[y]+count[y]-1 (source row index[t], weight weight[t]) are summed four
  ;; columns at a time. Output planes are height × width floats from out.
  (func (export "vertical")
    (param $planes i32) (param $planeBytes i32) (param $firstRow i32) (param $width i32) (param $height i32)
    (param $start i32) (param $count i32) (param $index i32) (param $weight i32) (param $out i32)
    (local $ch i32) (local $in i32) (local $y i32) (local $t i32) (local $tEnd i32)
    (local $rowBytes i32) (local $vecBytes i32) (local $xb i32) (local $acc v128) (local $sum f32)
    (local $ra i32) (local $rb i32) (local $wa f32) (local $wb f32) (local $va v128) (local $vb v128)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $vecBytes (i32.shl (i32.and (local.get $width) (i32.const -4)) (i32.const 2)))
    (local.set $ch (i32.const 0))
    (block $planesDone
      (loop $eachPlane
        (br_if $planesDone (i32.ge_u (local.get $ch) (i32.const 3)))
        (local.set $in (i32.sub (i32.add (local.get $planes) (i32.mul (local.get $ch) (local.get $planeBytes)))
                                (i32.mul (local.get $firstRow) (local.get $rowBytes))))
        (local.set $y (i32.const 0))
        (block $rowsDone
          (loop $eachRow
            (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $height)))
            (local.set $tEnd (i32.add
              (i32.load (i32.add (local.get $start) (i32.shl (local.get $y) (i32.const 2))))
              (i32.load (i32.add (local.get $count) (i32.shl (local.get $y) (i32.const 2))))))
            ;; Two taps (bilinear, the common case): rows and weights hoisted out of the column loop.
            ;; a·wa + b·wb equals the general loop's (0 + a·wa) + b·wb: a·wa is never -0 here.
            (if (i32.eq (i32.load (i32.add (local.get $count) (i32.shl (local.get $y) (i32.const 2)))) (i32.const 2))
              (then
                (local.set $t (i32.load (i32.add (local.get $start) (i32.shl (local.get $y) (i32.const 2)))))
                (local.set $ra (i32.add (local.get $in)
                  (i32.mul (i32.load (i32.add (local.get $index) (i32.shl (local.get $t) (i32.const 2)))) (local.get $rowBytes))))
                (local.set $rb (i32.add (local.get $in)
                  (i32.mul (i32.load (i32.add (local.get $index) (i32.shl (i32.add (local.get $t) (i32.const 1)) (i32.const 2)))) (local.get $rowBytes))))
                (local.set $wa (f32.load (i32.add (local.get $weight) (i32.shl (local.get $t) (i32.const 2)))))
                (local.set $wb (f32.load (i32.add (local.get $weight) (i32.shl (i32.add (local.get $t) (i32.const 1)) (i32.const 2)))))
                (local.set $va (f32x4.splat (local.get $wa)))
                (local.set $vb (f32x4.splat (local.get $wb)))
                (local.set $xb (i32.const 0))
                (block $pairVecsDone
                  (loop $eachPairVec
                    (br_if $pairVecsDone (i32.ge_u (local.get $xb) (local.get $vecBytes)))
                    (v128.store (i32.add (local.get $out) (local.get $xb))
                      (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $ra) (local.get $xb))) (local.get $va))
                                 (f32x4.mul (v128.load (i32.add (local.get $rb) (local.get $xb))) (local.get $vb))))
                    (local.set $xb (i32.add (local.get $xb) (i32.const 16)))
                    (br $eachPairVec)))
                (block $pairColsDone
                  (loop $eachPairCol
                    (br_if $pairColsDone (i32.ge_u (local.get $xb) (local.get $rowBytes)))
                    (f32.store (i32.add (local.get $out) (local.get $xb))
                      (f32.add (f32.mul (f32.load (i32.add (local.get $ra) (local.get $xb))) (local.get $wa))
                               (f32.mul (f32.load (i32.add (local.get $rb) (local.get $xb))) (local.get $wb))))
                    (local.set $xb (i32.add (local.get $xb) (i32.const 4)))
                    (br $eachPairCol)))
                (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
                (local.set $y (i32.add (local.get $y) (i32.const 1)))
                (br $eachRow)))
            (local.set $xb (i32.const 0))
            (block $vecsDone
              (loop $eachVec
                (br_if $vecsDone (i32.ge_u (local.get $xb) (local.get $vecBytes)))
                (local.set $acc (v128.const i32x4 0 0 0 0))
                (local.set $t (i32.load (i32.add (local.get $start) (i32.shl (local.get $y) (i32.const 2)))))
                (block $tapsDone
                  (loop $eachTap
                    (br_if $tapsDone (i32.ge_u (local.get $t) (local.get $tEnd)))
                    (local.set $acc (f32x4.add (local.get $acc)
                      (f32x4.mul
                        (v128.load (i32.add (i32.add (local.get $in)
                          (i32.mul (i32.load (i32.add (local.get $index) (i32.shl (local.get $t) (i32.const 2)))) (local.get $rowBytes)))
                          (local.get $xb)))
                        (f32x4.splat (f32.load (i32.add (local.get $weight) (i32.shl (local.get $t) (i32.const 2))))))))
                    (local.set $t (i32.add (local.get $t) (i32.const 1)))
                    (br $eachTap)))
                (v128.store (i32.add (local.get $out) (local.get $xb)) (local.get $acc))
                (local.set $xb (i32.add (local.get $xb) (i32.const 16)))
                (br $eachVec)))
            ;; The last width mod 4 columns, one at a time.
            (block $colsDone
              (loop $eachCol
                (br_if $colsDone (i32.ge_u (local.get $xb) (local.get $rowBytes)))
                (local.set $sum (f32.const 0))
                (local.set $t (i32.load (i32.add (local.get $start) (i32.shl (local.get $y) (i32.const 2)))))
                (block $tailTapsDone
                  (loop $eachTailTap
                    (br_if $tailTapsDone (i32.ge_u (local.get $t) (local.get $tEnd)))
                    (local.set $sum (f32.add (local.get $sum)
                      (f32.mul
                        (f32.load (i32.add (i32.add (local.get $in)
                          (i32.mul (i32.load (i32.add (local.get $index) (i32.shl (local.get $t) (i32.const 2)))) (local.get $rowBytes)))
                          (local.get $xb)))
                        (f32.load (i32.add (local.get $weight) (i32.shl (local.get $t) (i32.const 2)))))))
                    (local.set $t (i32.add (local.get $t) (i32.const 1)))
                    (br $eachTailTap)))
                (f32.store (i32.add (local.get $out) (local.get $xb)) (local.get $sum))
                (local.set $xb (i32.add (local.get $xb) (i32.const 4)))
                (br $eachCol)))
            (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
            (local.set $y (i32.add (local.get $y) (i32.const 1)))
            (br $eachRow)))
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br $eachPlane)))
  )
)
