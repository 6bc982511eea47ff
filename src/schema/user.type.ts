import { ArgsType, Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { UserRole } from '../entities/user.entity.js';
import type { User } from '../entities/user.entity.js';

registerEnumType(UserRole, { name: 'Role' });

@ObjectType('User', { simpleResolvers: true })
export class UserType {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String)
  name!: string;

  @Field(() => UserRole)
  role!: UserRole;
}

@ObjectType({ simpleResolvers: true })
export class AuthPayload {
  @Field(() => String, { description: 'Access token for `Authorization: Bearer <token>`; it expires.' })
  token!: string;

  @Field(() => UserType)
  user!: UserType;
}

export function toUserType(user: User): UserType {
  return { id: user.id, email: user.email, name: user.name, role: user.role };
}

@ArgsType()
export class SignUpArgs {
  @Field(() => String)
  email!: string;

  @Field(() => String, { description: 'At least 8 characters.' })
  password!: string;

  @Field(() => String)
  name!: string;
}

@ArgsType()
export class SignInArgs {
  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;
}
