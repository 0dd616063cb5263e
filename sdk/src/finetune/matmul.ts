/**
 * Matrix products for training on tfjs-backend-wasm. Its BatchMatMul runs XNNPACK only when
 * neither operand is transposed; with `transposeA`/`transposeB` set, as tfjs-core's matMul
 * gradient sets them, it falls back to a plain loop about ten times slower (0.6–0.9 against 8–12
 * G multiply-adds a second on this machine, for 1,568 × 160 by 160 × 960: a batch of 32 at
 * 7 × 7 in MobileNetV2's last block). Those gradients were nine tenths of a training step.
 * Here the gradients transpose first, then multiply untransposed.
 * @module
 */
import type * as tfCore from '@tensorflow/tfjs-core';

type Tf = typeof tfCore;
type MatMul = (a: tfCore.Tensor2D, b: tfCore.Tensor2D) => tfCore.Tensor2D;

const products = new WeakMap<Tf, MatMul>();

/** a · b, with gradients dy · bᵀ and aᵀ · dy computed from explicit transposes. */
export function trainableMatMul(tf: Tf, a: tfCore.Tensor2D, b: tfCore.Tensor2D): tfCore.Tensor2D {
  let product = products.get(tf);
  if (!product) {
    product = tf.customGrad((x, y, save) => {
      (save as tfCore.GradSaveFunc)([x as tfCore.Tensor, y as tfCore.Tensor]);
      return {
        value: tf.matMul(x as tfCore.Tensor2D, y as tfCore.Tensor2D),
        gradFunc: (dy: tfCore.Tensor2D, [left, right]: tfCore.Tensor[]) => [
          tf.matMul(dy, tf.transpose(right as tfCore.Tensor2D)),
          tf.matMul(tf.transpose(left as tfCore.Tensor2D), dy),
        ],
      };
    }) as MatMul;
    products.set(tf, product);
  }
  return product(a, b);
}
