/**
 * A small ONNX graph builder over onnx-proto (protobufjs): nodes with generated value names,
 * initializers from typed arrays (float32 weights optionally stored as float16 and cast back to
 * float32 inside the graph), and serialisation to ModelProto bytes. Opset 17 of the default domain only, so the graphs
 * run in every current ONNX Runtime (node, web, mobile).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Attribute = number | number[] | string;

export const OPSET = 17;
export const TYPES = { float: 1, int64: 7, bool: 9, float16: 10, double: 11 } as const;
export type ElementType = keyof typeof TYPES;
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  type: ElementType;
  shape: Dim[];
}

export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private count = 0;

  /** Store float32 weights as float16 (cast back to float32 inside the graph). */
  constructor(private readonly weightsAsHalf = false) {}

  get nodeCount(): number {
    return this.nodes.length;
  }

  private fresh(op: string): string {
    return `${op.toLowerCase()}_${this.count++}`;
  }

  /** One node; returns its output names (`outputs` names them, or a count of generated names). */
  node(
    op: string,
    inputs: string[],
    attributes: Record<string, Attribute> = {},
    outputs: number | string[] = 1,
  ) {
    const names =
      typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(op)) : outputs;
    this.nodes.push(
      onnx.NodeProto.create({
        opType: op,
        name: `${op}_${this.nodes.length}`,
        input: inputs,
        output: names,
        attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
      }),
    );
    return names;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attributes: Record<string, Attribute> = {}, output?: string): string {
    return this.node(op, inputs, attributes, output ? [output] : 1)[0];
  }

  /** A constant tensor; float32 weights (`weight`) may be stored as float16. */
  constant(type: ElementType, values: ArrayLike<number> | bigint[], dims: number[], weight = false): string {
    const name = this.fresh(weight ? 'weight' : 'const');
    if (weight && this.weightsAsHalf && type === 'float') {
      this.initializers.push(tensor(`${name}_fp16`, 'float16', halfBits(values as ArrayLike<number>), dims));
      return this.op('Cast', [`${name}_fp16`], { to: TYPES.float }, name);
    }
    this.initializers.push(tensor(name, type, rawBytes(type, values), dims));
    return name;
  }

  scalar(value: number): string {
    return this.constant('float', [value], []);
  }

  ints(values: number[]): string {
    return this.constant('int64', values.map(BigInt), [values.length]);
  }

  /** Serialised ModelProto. */
  encode(inputs: ValueInfo[], outputs: ValueInfo[], docString: string): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: 'main',
      node: this.nodes,
      initializer: this.initializers,
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'diff-transformer',
      docString,
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function attribute(name: string, value: Attribute) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: A.INT, i: value };
  return { name, type: A.FLOAT, f: value };
}

function tensor(name: string, type: ElementType, raw: Uint8Array, dims: number[]) {
  return onnx.TensorProto.create({ name, dataType: TYPES[type], dims, rawData: raw });
}

function valueInfo(v: ValueInfo) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: TYPES[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Little-endian bytes of `values` as `type`. */
function rawBytes(type: ElementType, values: ArrayLike<number> | bigint[]): Uint8Array {
  const n = values.length;
  const view = (bytes: number) => new DataView(new ArrayBuffer(n * bytes));
  let dv: DataView;
  if (type === 'float') {
    dv = view(4);
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, values[i] as number, true);
  } else if (type === 'double') {
    dv = view(8);
    for (let i = 0; i < n; i++) dv.setFloat64(8 * i, values[i] as number, true);
  } else if (type === 'int64') {
    dv = view(8);
    for (let i = 0; i < n; i++) dv.setBigInt64(8 * i, BigInt(values[i]), true);
  } else if (type === 'bool') {
    dv = view(1);
    for (let i = 0; i < n; i++) dv.setUint8(i, values[i] ? 1 : 0);
  } else return halfBits(values as ArrayLike<number>);
  return new Uint8Array(dv.buffer);
}

/** float → IEEE half (round to nearest, ties to even), little-endian bytes. */
export function halfBits(values: ArrayLike<number>): Uint8Array {
  const out = new DataView(new ArrayBuffer(2 * values.length));
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) h = sign | 0x7c00 | (mant ? 0x200 : 0);
    else {
      const e = exp - 127 + 15;
      if (e >= 0x1f) h = sign | 0x7c00;
      else if (e <= 0) {
        if (e < -10) h = sign;
        else {
          mant |= 0x800000;
          const shift = 14 - e;
          const half = 1 << (shift - 1);
          let m = mant >>> shift;
          const rest = mant & ((1 << shift) - 1);
          if (rest > half || (rest === half && m & 1)) m++;
          h = sign | m;
        }
      } else {
        let m = mant >>> 13;
        const rest = mant & 0x1fff;
        let hExp = e;
        if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
          m++;
          if (m === 0x400) {
            m = 0;
            hExp++;
          }
        }
        h = hExp >= 0x1f ? sign | 0x7c00 : sign | (hExp << 10) | m;
      }
    }
    out.setUint16(2 * i, h, true);
  }
  return new Uint8Array(out.buffer);
}
