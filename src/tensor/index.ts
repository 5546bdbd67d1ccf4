export * from "./dtypes.ts";
export * from "./tensor.ts";
