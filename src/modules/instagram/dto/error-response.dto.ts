export { ErrorResponseDto } from '../../../common/dto/error-response.dto';
