// Type-checked by `make ts-client` (never run): the generated client used as a caller would,
// so a proto change that breaks TypeScript callers (a renamed field, a changed type) fails
// `make lint`. protoc-gen-es v2 generates messages and service descriptors from proto/ alone.
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { CustomerKind, CustomerSchema } from "./gen/crm/v1/customer_pb.js";
import {
  CreateCustomerRequestSchema,
  CustomerService,
  GetCustomerRequestSchema,
} from "./gen/crm/v1/customer_service_pb.js";
import {
  ClassificationService,
  RecordPurchaseRequestSchema,
} from "./gen/crm/v1/classification_service_pb.js";
import { MoneySchema } from "./gen/google/type/money_pb.js";

// A request message built from an init object, as a client call takes it.
const createRequest = create(CreateCustomerRequestSchema, {
  customerId: "acme",
  requestId: "5f0c6a3e-2b1d-4c8e-9a7f-0d6e1b2c3a4f",
  customer: { displayName: "Acme Ltd", kind: CustomerKind.ORGANIZATION, tags: ["vip"] },
});

// The service descriptor ties each method to its input and output messages.
const getCustomer = CustomerService.method.getCustomer;
const getInput: typeof GetCustomerRequestSchema = getCustomer.input;
const getOutput: typeof CustomerSchema = getCustomer.output;
const getRequest: MessageInitShape<typeof getCustomer.input> = { name: "customers/acme" };

// google.type.Money from the vendored proto, inside a crm.v1 request.
const purchase = create(RecordPurchaseRequestSchema, {
  customer: "customers/acme",
  orderRef: "order-1",
  amount: create(MoneySchema, { currencyCode: "USD", units: 120_000n, nanos: 0 }),
});
const purchaseMethod: typeof RecordPurchaseRequestSchema =
  ClassificationService.method.recordPurchase.input;

// @ts-expect-error: a field the proto does not have
create(GetCustomerRequestSchema, { nmae: "customers/acme" });

// The binary round trip keeps the message.
const roundTrip = fromBinary(CreateCustomerRequestSchema, toBinary(CreateCustomerRequestSchema, createRequest));
const displayName: string | undefined = roundTrip.customer?.displayName;

export { displayName, getInput, getOutput, getRequest, purchase, purchaseMethod };
