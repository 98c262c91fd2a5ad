import { assert, describe, it } from "@effect/vitest"
import {
  AvroSchemaError,
  buildFeatureGroupAvroSchema,
  buildFeatureGroupAvroSchemaString,
  hiveTypeProblem,
  hiveTypeToAvro,
  isComplexHiveType,
  javaStringHashCode
} from "../../src/hopsworks/AvroSchemaBuilder.ts"

const s = (t: unknown) => ["null", t]

// Expected strings are the server's own unit tests (TestAvroSchemaConstructorController.java), see
// /work/shared/design/hopsworks-protocol.md §4.2.
describe("AvroSchemaBuilder (the server's Hive -> Avro mapping)", () => {
  it("javaStringHashCode matches Java's String.hashCode", () => {
    assert.strictEqual(javaStringHashCode(""), 0)
    assert.strictEqual(javaStringHashCode("hello"), 99162322)
    assert.strictEqual(javaStringHashCode("struct<label:int,value:array<int>>"), 471026777)
    assert.strictEqual(javaStringHashCode("struct<label:int,value:binary>"), -933962134)
  })

  it("primitive types, wrapped in [\"null\", T]", () => {
    const cases: Array<[string, string]> = [
      ["int", "[\"null\",\"int\"]"],
      ["smallint", "[\"null\",\"int\"]"],
      ["tinyint", "[\"null\",\"int\"]"],
      ["bigint", "[\"null\",\"long\"]"],
      ["float", "[\"null\",\"float\"]"],
      ["double", "[\"null\",\"double\"]"],
      ["boolean", "[\"null\",\"boolean\"]"],
      ["string", "[\"null\",\"string\"]"],
      ["binary", "[\"null\",\"bytes\"]"],
      ["date", "[\"null\",{\"type\":\"int\",\"logicalType\":\"date\"}]"],
      ["timestamp", "[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}]"],
      ["decimal(10,6)", "[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":10,\"scale\":6}]"],
      ["BIGINT", "[\"null\",\"long\"]"],
      [
        " decimal( 10 , 2 ) ",
        "[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":10,\"scale\":2}]"
      ]
    ]
    for (const [hive, expected] of cases) assert.strictEqual(JSON.stringify(hiveTypeToAvro(hive, "")), expected, hive)
  })

  it("array<int>, map<string,int>, struct<label:int,value:array<int>> exactly as the server's tests expect", () => {
    assert.strictEqual(
      JSON.stringify(hiveTypeToAvro("array<int>", "")),
      "[\"null\",{\"type\":\"array\",\"items\":[\"null\",\"int\"]}]"
    )
    assert.strictEqual(
      JSON.stringify(hiveTypeToAvro("map<string,int>", "")),
      "[\"null\",{\"type\":\"map\",\"values\":[\"null\",\"int\"]}]"
    )
    assert.strictEqual(
      JSON.stringify(hiveTypeToAvro("struct<label:int,value:array<int>>", "")),
      "[\"null\",{\"type\":\"record\",\"name\":\"r471026777\",\"fields\":[{\"name\":\"label\",\"type\":[\"null\",\"int\"]}," +
        "{\"name\":\"value\",\"type\":[\"null\",{\"type\":\"array\",\"items\":[\"null\",\"int\"]}]}]}]"
    )
  })

  it("refuses what the server refuses: non-string map keys, nameless struct fields, unknown types", () => {
    for (const t of ["map<int,int>", "struct<int,int>", "array<foo>", "array int", "struct<a:int"]) {
      assert.throws(() => hiveTypeToAvro(t, ""), AvroSchemaError)
      assert.isString(hiveTypeProblem(t))
    }
    assert.isUndefined(hiveTypeProblem("map<string,array<struct<a:int,b:string>>>"))
  })

  it("isComplexHiveType", () => {
    for (const t of ["array<int>", "MAP<string,int>", "struct<a:int>", "uniontype<int,string>"]) {
      assert.isTrue(isComplexHiveType(t))
    }
    for (const t of ["int", "string", "structured", "decimal(1,0)"]) assert.isFalse(isComplexHiveType(t))
  })

  it("constructSchema: the server test with map, struct (record named r<abs(hash)>, namespace = feature name)", () => {
    const schema = buildFeatureGroupAvroSchema({
      featureGroupName: "fg",
      version: 1,
      projectName: "project_name",
      features: [
        { name: "feature0", type: "int" },
        { name: "feature1", type: "map<string,array<int>>" },
        { name: "feature2", type: "struct<label:int,value:binary>" }
      ]
    })
    assert.deepStrictEqual(schema, {
      type: "record",
      name: "fg_1",
      namespace: "project_name_featurestore.db",
      fields: [
        { name: "feature0", type: ["null", "int"] },
        {
          name: "feature1",
          type: ["null", { type: "map", values: ["null", { type: "array", items: ["null", "int"] }] }]
        },
        {
          name: "feature2",
          type: ["null", {
            type: "record",
            name: "r933962134",
            namespace: "feature2",
            fields: [{ name: "label", type: ["null", "int"] }, { name: "value", type: ["null", "bytes"] }]
          }]
        }
      ]
    })
  })

  it("constructSchema: the server test with nested structs (namespace <feature>.<parent record>)", () => {
    const schema = JSON.parse(buildFeatureGroupAvroSchemaString({
      featureGroupName: "fg",
      version: 1,
      projectName: "Project_Name",
      features: [
        { name: "feature3", type: "struct<label1:string,value:struct<label2:string,value2:int>>" },
        { name: "feature4", type: "struct<label3:string,value3:array<string>>" },
        { name: "feature5", type: "struct<key:string,item1:struct<subkey:string,item2:array<int>>>" },
        { name: "feature6", type: "array<struct<test:string,val:int>>" }
      ]
    }))
    assert.deepStrictEqual(schema, {
      type: "record",
      name: "fg_1",
      namespace: "project_name_featurestore.db",
      fields: [
        {
          name: "feature3",
          type: s({
            type: "record",
            name: "r221276846",
            namespace: "feature3",
            fields: [
              { name: "label1", type: s("string") },
              {
                name: "value",
                type: s({
                  type: "record",
                  name: "r773256226",
                  namespace: "feature3.r221276846",
                  fields: [{ name: "label2", type: s("string") }, { name: "value2", type: s("int") }]
                })
              }
            ]
          })
        },
        {
          name: "feature4",
          type: s({
            type: "record",
            name: "r1179734341",
            namespace: "feature4",
            fields: [
              { name: "label3", type: s("string") },
              { name: "value3", type: s({ type: "array", items: s("string") }) }
            ]
          })
        },
        {
          name: "feature5",
          type: s({
            type: "record",
            name: "r37053473",
            namespace: "feature5",
            fields: [
              { name: "key", type: s("string") },
              {
                name: "item1",
                type: s({
                  type: "record",
                  name: "r866074742",
                  namespace: "feature5.r37053473",
                  fields: [
                    { name: "subkey", type: s("string") },
                    { name: "item2", type: s({ type: "array", items: s("int") }) }
                  ]
                })
              }
            ]
          })
        },
        {
          name: "feature6",
          type: s({
            type: "array",
            items: s({
              type: "record",
              name: "r983056190",
              namespace: "feature6",
              fields: [{ name: "test", type: s("string") }, { name: "val", type: s("int") }]
            })
          })
        }
      ]
    })
  })
})
