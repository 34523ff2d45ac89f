/** Parameter name prefixes (SPEC §6, the Hugging Face Llama convention). */
export const layerPrefix = (layer: number) => `model.layers.${layer}.`;
/** Prefix of a layer's attention parameters. */
export const attentionPrefix = (layer: number) => `${layerPrefix(layer)}self_attn.`;
